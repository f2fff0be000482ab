/**
 * Creates the companies, maintenance units, sites, devices and accounts of the config file's `seed`
 * that do not exist yet. A seeded site or device naming a company or unit that is not seeded creates
 * it named by its id (as the API does).
 */
import type { RegistrySeed } from './schemas.js';
import type { Logger } from '../core/log.js';
import type { Registry } from './registry.js';

export function seedRegistry(registry: Registry, seed: RegistrySeed, log: Logger): void {
  let created = 0;
  for (const company of seed.companies) {
    if (!registry.getCompany(company.id)) { registry.createCompany(company, 'seed'); created++; }
  }
  for (const unit of seed.maintenanceUnits) {
    if (!registry.getMaintenanceUnit(unit.id)) { registry.createMaintenanceUnit(unit, 'seed'); created++; }
  }
  for (const site of seed.sites) {
    if (!registry.getSite(site.id)) { registry.createSite(site, 'seed'); created++; }
  }
  for (const { secret, secretHash, disabled, ...device } of seed.devices) {
    if (registry.getDevice(device.id)) continue;
    // a chosen secret is stored with scrypt (about 0.1 s each, once, when the device is first created)
    const result = registry.createDevice(device, 'seed', { secret, secretHash, disabled });
    created++;
    // a seeded device without a secret gets a generated one, which nobody would ever see otherwise
    if (!secret && !secretHash && result.secret) log.warn({ deviceId: device.id }, 'seeded device has no secret; issue one with POST /api/v1/devices/{id}/secret');
  }
  for (const { token, tokenHash, ...account } of seed.accounts) {
    if (registry.getAccount(account.id)) continue;
    registry.createAccount(account, 'seed', { token, tokenHash });
    created++;
  }
  if (created > 0) log.info({ created }, 'registry seeded from config');
}
