/**
 * The kinds of device the registry knows. What each kind sends (its payload schemas) is the ingest
 * capability's contract; which kinds exist, and so which scopes see which devices, is the registry's.
 */
import { z } from 'zod';

export const DEVICE_KINDS = ['elevator', 'fire_panel', 'smoke_detector', 'fire_water', 'water_pump', 'drainage'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];
export const deviceKindSchema = z.enum(DEVICE_KINDS);
