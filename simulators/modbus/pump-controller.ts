/**
 * A simulated pump-room controller (二次供水泵房 PLC): a Modbus TCP server (modbus-serial's
 * ServerTCP) serving a register map (by default the built-in `pump-plc-std`) from a mutable state.
 * It answers like a PLC: an address its map does not define is refused with exception 2 (illegal
 * data address), a request for another unit id is not answered. For tests and demos it can be told
 * to stop answering (the poller's timeouts) or to refuse every read with a Modbus exception.
 *
 * The map is the gateway's own (protocols/modbus), encoded with the same codec the poller decodes
 * with, so the simulator and the gateway cannot drift apart.
 */
import net from 'node:net';
import { ServerTCP } from 'modbus-serial';
import { encodeFields, modbusSettingsSchema, type RegisterImage, type RegisterSpec } from '../../protocols/modbus/index.js';

export const PUMP_MODEL = 'pump-plc-std';

/** The registers of the built-in pump-room map. */
export function builtinPumpRegisters(): RegisterSpec[] {
  return modbusSettingsSchema.parse({}).models[PUMP_MODEL]!.registers;
}

/** A pump room in normal operation (the values of the MQTT simulator's water_pump samples). */
export const NORMAL_PUMP_STATE: Readonly<Record<string, number | boolean>> = Object.freeze({
  inletPressure: 0.18, outletPressure: 0.45, tankLevel: 2.6, pumpsRunning: 2, pumpFault: false, flooded: false, doorOpen: false,
  smoke: false, turbidity: 0.3, chlorine: 0.4, ph: 7.2, temperature: 18.5, humidity: 55,
});

export const MODBUS_SCENARIOS = {
  normal: {},
  'pump-fault': { pumpFault: true, pumpsRunning: 1 },
  'low-pressure': { outletPressure: 0.05 },
} as const satisfies Record<string, Record<string, number | boolean>>;
export type ModbusScenario = keyof typeof MODBUS_SCENARIOS;

/** Modbus exception codes the simulator can answer with (Modbus application protocol 7). */
export const MODBUS_EXCEPTIONS = { illegalFunction: 1, illegalDataAddress: 2, illegalDataValue: 3, deviceFailure: 4, busy: 6 } as const;

export interface PumpControllerOptions {
  /** The register map served; the built-in `pump-plc-std` by default. */
  registers?: readonly RegisterSpec[];
  /** The unit id answered (others are ignored, as a PLC behind a gateway would); default 1. */
  unitId?: number;
  /** The initial state, over NORMAL_PUMP_STATE. */
  state?: Record<string, unknown>;
}

/** Thrown into modbus-serial's server: it answers with this exception code. */
function exception(code: number): { modbusErrorCode: number; msg: string } {
  return { modbusErrorCode: code, msg: `exception ${code}` };
}

export class PumpController {
  readonly registers: readonly RegisterSpec[];
  readonly unitId: number;
  private values: Record<string, unknown>;
  private image: RegisterImage;
  /** The addresses the map defines, per area: others are refused like a real PLC does. */
  private readonly defined: Record<keyof RegisterImage, Set<number>>;
  private server: ServerTCP | undefined;
  private silent = false;
  private failWith: number | undefined;
  private served = 0;

  constructor(opts: PumpControllerOptions = {}) {
    this.registers = opts.registers ?? builtinPumpRegisters();
    this.unitId = opts.unitId ?? 1;
    this.values = { ...NORMAL_PUMP_STATE, ...opts.state };
    this.image = encodeFields(this.registers, this.values);
    this.defined = { holding: new Set(), input: new Set(), coil: new Set(), discrete: new Set() };
    for (const r of this.registers) {
      const width = r.type === 'uint32' || r.type === 'int32' || r.type === 'float32' ? 2 : 1;
      for (let a = r.address; a < r.address + width; a++) this.defined[r.area].add(a);
    }
  }

  /** Changes fields of the state (engineering units, as in the telemetry: `{ outletPressure: 0.12, pumpFault: true }`). */
  set(patch: Record<string, unknown>): void {
    this.values = { ...this.values, ...patch };
    this.image = encodeFields(this.registers, this.values);
  }

  get state(): Readonly<Record<string, unknown>> {
    return { ...this.values };
  }

  /** Stop answering (requests are read and never answered: the client times out), or answer again. */
  setSilent(silent: boolean): void {
    this.silent = silent;
  }

  /** Refuse every read with this Modbus exception code, or answer normally again (undefined). */
  setException(code: number | undefined): void {
    this.failWith = code;
  }

  /** Reads answered so far. */
  get requestsServed(): number {
    return this.served;
  }

  /** Clients connected now. */
  get connections(): number {
    return this.server?.socks.size ?? 0;
  }

  /** Listens; port 0 picks a free port. Resolves with the port. */
  async start(port = 0, host = '127.0.0.1'): Promise<number> {
    if (this.server) throw new Error('模拟器已启动 / the simulator is already listening');
    // ServerTCP takes port 0 for "the default 502", so a free port is found first; another process
    // may take it in between, hence the retries
    for (let attempt = 1; ; attempt++) {
      const p = port === 0 ? await freePort(host) : port;
      try {
        this.server = await listen(this.vector(), p, host, this.unitId);
        return p;
      } catch (err) {
        if (port !== 0 || attempt >= 5 || (err as { code?: string }).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  /** Closes the server and every client connection. */
  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /** Drops every client connection (a PLC that rebooted); the server keeps listening. */
  dropConnections(): void {
    for (const sock of this.server?.socks.keys() ?? []) sock.destroy();
  }

  private vector() {
    // the server calls these without a callback (their arity tells it) and answers once every value settles
    const words = (area: 'holding' | 'input') => (addr: number, length: number): Array<number | Promise<number>> => {
      const values = this.answer(area, addr, length);
      // silent: one value per address that never settles, so no answer is sent (a whole-array promise would be refused with exception 4)
      if (values instanceof Promise) return Array.from({ length }, () => values.then(() => 0));
      return values.map((a) => this.image[area].get(a) ?? 0);
    };
    const bits = (area: 'coil' | 'discrete') => (addr: number): Promise<boolean> | boolean => {
      const values = this.answer(area, addr, 1);
      return values instanceof Promise ? values.then(() => false) : (this.image[area].get(addr) ?? false);
    };
    const word = (area: 'holding' | 'input') => (addr: number): Promise<number> | number => {
      const values = this.answer(area, addr, 1);
      return values instanceof Promise ? values.then(() => 0) : (this.image[area].get(addr) ?? 0);
    };
    return {
      getMultipleHoldingRegisters: words('holding'),
      getMultipleInputRegisters: words('input'),
      getHoldingRegister: word('holding'),
      getInputRegister: word('input'),
      getCoil: bits('coil'),
      getDiscreteInput: bits('discrete'),
    };
  }

  /** The addresses a read may have, a promise that never settles (silent), or a thrown exception. */
  private answer(area: keyof RegisterImage, addr: number, length: number): number[] | Promise<never> {
    if (this.silent) return new Promise<never>(() => {});
    if (this.failWith !== undefined) throw exception(this.failWith);
    const addresses: number[] = [];
    for (let a = addr; a < addr + length; a++) {
      if (!this.defined[area].has(a)) throw exception(MODBUS_EXCEPTIONS.illegalDataAddress);
      addresses.push(a);
    }
    this.served++;
    return addresses;
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function listen(vector: ReturnType<PumpController['vector']>, port: number, host: string, unitId: number): Promise<ServerTCP> {
  return new Promise((resolve, reject) => {
    const server = new ServerTCP(vector, { host, port, unitID: unitId });
    const failed = (err: Error | null) => { server.close(() => {}); reject(err ?? new Error('listen failed')); };
    server.once('serverError', failed);
    server.once('initialized', () => {
      server.off('serverError', failed);
      // a client that resets its connection is no reason to stop serving the others
      server.on('socketError', () => {});
      server.on('serverError', () => {});
      server.on('error', () => {});
      resolve(server);
    });
  });
}

export interface ModbusSimulatorOptions {
  port: number;
  host?: string;
  scenario?: ModbusScenario;
  unitId?: number;
  /** Stops serving when aborted; without one it serves until the process is killed. */
  signal?: AbortSignal;
}

/** `npm run simulate -- modbus`: one pump-room PLC on `host:port`, serving until stopped. */
export async function runModbusSimulator(opts: ModbusSimulatorOptions, print: (line: string) => void): Promise<void> {
  const scenario = opts.scenario ?? 'normal';
  const sim = new PumpController({ unitId: opts.unitId ?? 1, state: { ...MODBUS_SCENARIOS[scenario] } });
  const host = opts.host ?? '0.0.0.0';
  const port = await sim.start(opts.port, host);
  print(`Modbus 泵房控制器模拟器 / pump-room PLC simulator: ${host}:${port}, unit ${sim.unitId}, map ${PUMP_MODEL}, scenario ${scenario}`);
  for (const r of sim.registers) {
    const bit = r.bit === undefined ? '' : ` bit ${r.bit}`;
    const scale = r.scale === undefined ? '' : ` × ${r.scale}`;
    print(`  ${r.area} ${r.address}${bit} (${r.type}${scale}) ${r.field} = ${String(sim.state[r.field])}`);
  }
  await new Promise<void>((resolve) => {
    if (!opts.signal) return; // until killed
    if (opts.signal.aborted) return resolve();
    opts.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await sim.close();
  print('Modbus 模拟器已停止 / Modbus simulator stopped');
}
