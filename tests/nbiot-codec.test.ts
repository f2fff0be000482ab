/**
 * NB-IoT platform push codecs, pure: signatures against the research notes' vectors, the raw `msg`
 * text the legacy signature covers, `+` vs space, both AES modes, the model decoders, the message
 * mapping of each platform, and the dedupe bound.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nbiotSettingsSchema, BUILTIN_MODELS, decodeReport } from '../protocols/nbiot/index.js';
import { resolveModels, parseFrame } from '../protocols/nbiot/decoders.js';
import { Dedupe, BoundedMap, dedupeKey } from '../protocols/nbiot/dedupe.js';
import {
  onenetSignature, verifyOnenetSignature, rawMember, parseEnvelope, rawQuery, queryValues, verifyHandshake,
  studioEncrypt, studioDecrypt, legacyEncrypt, legacyDecrypt, studioMessages, legacyMessages,
} from '../protocols/nbiot/onenet.js';
import { ctwingMessages, tokenMatches } from '../protocols/nbiot/ctwing.js';
import { encodeGwSmokeFrame, lianServiceData, OneNetPush, CtwingPush } from '../simulators/nbiot/platforms.js';

/** Notes §2.3: a Studio message from real logs and its published signature [O15]. */
const STUDIO_TOKEN = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const STUDIO_NONCE = '4KNbK6m3';
const STUDIO_MSG = '{"notifyType":"property","productId":"n7Va2Dm5HY","messageType":"notify","data":{"id":"0","params":{"imie":{"time":1757948604527,"value":"860870050503148"},"Wear":{"time":1757948604533,"value":"离线"}}},"deviceName":"860870050503148"}';
const STUDIO_SIGNATURE = '2s+sqRL8FG8KJ1pjFjC0WA==';

/** Notes §3.2: the real CTWing push of a LiAn NB smoke alarm [C2]. */
const LIAN_CAPTURE = '{"upPacketSN":-1,"upDataSN":-1,"topic":"v1/up/ad19prof","timestamp":1606982320277,"tenantId":"10461180","serviceId":"","protocol":"lwm2m","productId":"15014772",'
  + '"payload":{"serviceId":"notification","serviceData":{"TData":30,"SNR":1,"RSRP":114,"IMEI":"860374051096202","Cell_ID_Length":8,"Cell_ID":"38848339","CSQ":5,"Battery_Level":100,"Alarm_Status":2,"AlarmLevel":100}},'
  + '"messageType":"dataReport","deviceType":"","deviceId":"acf7baaee65e431eadfb8f5fe50e8b81","assocAssetId":"","IMSI":"undefined","IMEI":"860374051096202"}';

const LEGACY_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'; // 43 characters
const STUDIO_KEY = '0123456789abcdef';

describe('OneNET signatures', () => {
  it('verifies the Studio vector of the notes (UTF-8, 离线 included)', () => {
    expect(onenetSignature(STUDIO_TOKEN, STUDIO_NONCE, STUDIO_MSG)).toBe(STUDIO_SIGNATURE);
    expect(verifyOnenetSignature(STUDIO_TOKEN, STUDIO_NONCE, STUDIO_MSG, STUDIO_SIGNATURE)).toBe(true);
  });

  it('takes a + that arrived as a space, and refuses a wrong token or a truncated signature', () => {
    expect(verifyOnenetSignature(STUDIO_TOKEN, STUDIO_NONCE, STUDIO_MSG, STUDIO_SIGNATURE.replace('+', ' '))).toBe(true);
    expect(verifyOnenetSignature(`${STUDIO_TOKEN}x`, STUDIO_NONCE, STUDIO_MSG, STUDIO_SIGNATURE)).toBe(false);
    expect(verifyOnenetSignature(STUDIO_TOKEN, STUDIO_NONCE, STUDIO_MSG, STUDIO_SIGNATURE.slice(0, 20))).toBe(false);
    expect(verifyOnenetSignature(STUDIO_TOKEN, STUDIO_NONCE, `${STUDIO_MSG} `, STUDIO_SIGNATURE)).toBe(false);
  });
});

describe('the raw msg text of a legacy push', () => {
  it('keeps 42.0 as sent (a parse/stringify round trip would not)', () => {
    const msg = '{"type":1,"dev_id":2016617,"ds_id":"datastream_id","at":1466133706841,"value":42.0}';
    const body = `{"msg":${msg},"msg_signature":"${onenetSignature('tok12345', 'abcdefgh', msg)}","nonce":"abcdefgh"}`;
    expect(rawMember(body, 'msg')).toBe(msg);
    expect(JSON.stringify(JSON.parse(msg))).not.toBe(msg);
    const env = parseEnvelope(body, 'auto');
    expect(env).toMatchObject({ dialect: 'legacy', signed: msg, encrypted: false, nonce: 'abcdefgh' });
    if (!('error' in env) && env.dialect === 'legacy') expect(verifyOnenetSignature('tok12345', env.nonce, env.signed, env.signature)).toBe(true);
  });

  it('skips strings with braces, escapes, nested arrays and whitespace; the last duplicate key wins', () => {
    const msg = '[ {"s":"x\\"}{]","n":[1,{"a":[2,3]}],"u":"\\u79bb"} , {"type":2} ]';
    const body = ` {"nonce" : "a}b\\"," , "msg" :\n${msg}\t, "msg_signature":"q"} `;
    expect(rawMember(body, 'msg')).toBe(msg);
    expect(rawMember(body, 'nonce')).toBe('"a}b\\","');
    expect(rawMember('{"msg":1,"msg":{"b":true}}', 'msg')).toBe('{"b":true}');
    expect(rawMember('[1]', 'msg')).toBeUndefined();
    expect(rawMember('{"a":1}', 'msg')).toBeUndefined();
  });

  it('tells the dialects apart and refuses what is not an envelope', () => {
    expect(parseEnvelope(JSON.stringify({ msg: STUDIO_MSG, nonce: STUDIO_NONCE, signature: STUDIO_SIGNATURE, time: 1591340648197, id: '3799902' }), 'auto'))
      .toEqual({ dialect: 'studio', msg: STUDIO_MSG, nonce: STUDIO_NONCE, signature: STUDIO_SIGNATURE, id: '3799902', time: 1591340648197 });
    expect(parseEnvelope('{"enc_msg":"QUJD","msg_signature":"s","nonce":"n"}', 'auto')).toMatchObject({ dialect: 'legacy', signed: 'QUJD', encrypted: true });
    expect(parseEnvelope('not json', 'auto')).toHaveProperty('error');
    expect(parseEnvelope('{"msg":"x","nonce":"n"}', 'auto')).toHaveProperty('error');
    expect(parseEnvelope('{"msg":{"a":1},"msg_signature":"s","nonce":"n"}', 'studio')).toHaveProperty('error');
  });
});

describe('the URL check query', () => {
  const token = 'tok-0123456789';
  const find = (nonce: string, msg: string) => {
    // a signature with a + in it, to prove the + handling
    for (let i = 0; ; i++) { const m = `${msg}${i}`; const s = onenetSignature(token, nonce, m); if (s.includes('+')) return { m, s }; }
  };

  it('reads raw values, an unescaped + as + and, failing that, as a space', () => {
    expect(queryValues('a+b%2Bc')).toEqual(['a+b+c', 'a b+c']);
    expect(queryValues('%E7%A6%BB')).toEqual(['离']);
    expect(queryValues('%E0%A4%A')).toEqual([]);
    expect(rawQuery('/x?msg=a+b&nonce=I%24TLyP%26f&msg=second&flag')).toEqual(new Map([['msg', 'a+b'], ['nonce', 'I%24TLyP%26f'], ['flag', '']]));
  });

  it('verifies a signature sent with +, with %2B and form-decoded to a space, and a nonce with & and $', () => {
    const nonce = 'I$TLyP&f';
    const { m, s } = find(nonce, 'random');
    const q = (sig: string) => new Map([['msg', encodeURIComponent(m)], ['nonce', encodeURIComponent(nonce)], ['signature', sig]]);
    expect(verifyHandshake(token, q(s))).toEqual({ ok: true, msg: m });
    expect(verifyHandshake(token, q(encodeURIComponent(s)))).toEqual({ ok: true, msg: m });
    expect(verifyHandshake(token, q(s.replace(/\+/g, '%20')))).toEqual({ ok: true, msg: m });
    expect(verifyHandshake('another-token', q(s))).toEqual({ ok: false, missing: false });
    expect(verifyHandshake(token, new Map([['msg', 'x']]))).toEqual({ ok: false, missing: true });
  });

  it('echoes a msg whose + meant a space, if that is what was signed', () => {
    const nonce = 'abcdefgh';
    const msg = 'hello world';
    const q = new Map([['msg', 'hello+world'], ['nonce', nonce], ['signature', encodeURIComponent(onenetSignature(token, nonce, msg))]]);
    expect(verifyHandshake(token, q)).toEqual({ ok: true, msg });
  });
});

describe('安全模式 AES', () => {
  it('Studio: AES-128-CBC, key = IV, PKCS#7, base64 — round trip, wrong key refused', () => {
    const c = studioEncrypt(STUDIO_KEY, STUDIO_MSG);
    // the recipe itself: the same bytes as AES-128-CBC with the key as IV
    const ref = createCipheriv('aes-128-cbc', Buffer.from(STUDIO_KEY), Buffer.from(STUDIO_KEY));
    expect(c).toBe(Buffer.concat([ref.update(STUDIO_MSG, 'utf8'), ref.final()]).toString('base64'));
    expect(studioDecrypt(STUDIO_KEY, c)).toBe(STUDIO_MSG);
    expect(studioDecrypt('fedcba9876543210', c)).not.toBe(STUDIO_MSG);
    expect(studioDecrypt(STUDIO_KEY, '{"not":"base64"}')).toBeUndefined();
  });

  it('legacy: AES-256-CBC, random ‖ length ‖ msg ‖ trailer, 32-byte padding — round trip', () => {
    const msg = '{"type":1,"value":"离线","at":1}';
    expect(legacyDecrypt(LEGACY_KEY, legacyEncrypt(LEGACY_KEY, msg))).toBe(msg);
    expect(legacyDecrypt(LEGACY_KEY, legacyEncrypt(LEGACY_KEY, msg, 'appid-trailer'))).toBe(msg);
    expect(legacyDecrypt(LEGACY_KEY, 'QUJD')).toBeUndefined();
  });

  it('legacy: also strips PKCS#7 padding to 16-byte blocks (notes §6 q.7)', () => {
    const key = Buffer.from(`${LEGACY_KEY}=`, 'base64');
    const body = Buffer.from('{"a":1}');
    const len = Buffer.alloc(4); len.writeUInt32BE(body.length);
    const c = createCipheriv('aes-256-cbc', key, key.subarray(0, 16)); // Node's own PKCS#7, 16-byte blocks
    const enc = Buffer.concat([c.update(Buffer.concat([randomBytes(16), len, body])), c.final()]).toString('base64');
    expect(legacyDecrypt(LEGACY_KEY, enc)).toBe('{"a":1}');
  });
});

describe('model decoders', () => {
  const smoke = BUILTIN_MODELS['gw-smoke-v1']!;
  const lian = BUILTIN_MODELS['lian-nb-smoke']!;

  it('gw-smoke-v1: a reading, an alarm with its reading, a test alarm, low battery, negative temperatures', () => {
    const hex = encodeGwSmokeFrame({ status: 'alarm', smoke: 12.5, temperature: 23.4, battery: 87 }).toString('hex').toUpperCase();
    expect(hex).toBe('A50101007D00EA57');
    expect(decodeReport(smoke, 'smoke_detector', { fields: { '3200_0_5750': hex }, ts: 1552274056993 })).toEqual({
      ok: true,
      telemetry: [{ ts: 1552274056993, smoke: 12.5, temperature: 23.4, battery: 87 }],
      events: [{ ts: 1552274056993, type: 'alarm' }],
    });
    const reading = decodeReport(smoke, 'smoke_detector', { bytes: encodeGwSmokeFrame({ status: 'reading', smoke: 0, temperature: -12.3, battery: 5 }) });
    expect(reading).toEqual({ ok: true, telemetry: [{ smoke: 0, temperature: -12.3, battery: 5 }], events: [] });
    expect(decodeReport(smoke, 'smoke_detector', { bytes: encodeGwSmokeFrame({ status: 'test_alarm', smoke: 3, temperature: 20, battery: 90 }) }))
      .toMatchObject({ ok: true, events: [{ type: 'alarm', test: true }] });
    expect(decodeReport(smoke, 'smoke_detector', { bytes: encodeGwSmokeFrame({ status: 'low_battery', smoke: 0, temperature: 20, battery: 9 }) }))
      .toMatchObject({ ok: true, events: [{ type: 'low_battery', battery: 9 }] });
  });

  it('gw-smoke-v1: refuses another header, a short frame, another kind, a payload without its resource', () => {
    expect(decodeReport(smoke, 'smoke_detector', { bytes: Buffer.from('a502010000000000', 'hex') })).toMatchObject({ ok: false });
    expect(decodeReport(smoke, 'smoke_detector', { bytes: Buffer.from('a50101', 'hex') })).toMatchObject({ ok: false });
    expect(decodeReport(smoke, 'fire_panel', { bytes: encodeGwSmokeFrame({ status: 'alarm', smoke: 1, temperature: 1, battery: 1 }) })).toMatchObject({ ok: false });
    expect(decodeReport(smoke, 'smoke_detector', { fields: { '3300_0_5706': '7b7d' } })).toMatchObject({ ok: false });
    expect(parseFrame({ resource: 'r', header: '', minLength: 1, fields: { x: { at: 1, type: 'u16', littleEndian: true } } }, Buffer.from('000102', 'hex'))).toEqual({ x: 0x0201 });
  });

  it('lian-nb-smoke: the real capture (静音) is a sign of life; alarm, test alarm, low battery, tamper, cleared', () => {
    const report = (status: Parameters<typeof lianServiceData>[1]) => decodeReport(lian, 'smoke_detector', { fields: lianServiceData('860374051096202', status, 15), ts: 1606982320277 });
    const capture = JSON.parse(LIAN_CAPTURE).payload.serviceData;
    expect(decodeReport(lian, 'smoke_detector', { fields: capture })).toEqual({ ok: true, telemetry: [], events: [] });
    expect(report('alarm')).toEqual({ ok: true, telemetry: [], events: [{ ts: 1606982320277, type: 'alarm' }] });
    expect(report('test_alarm')).toMatchObject({ events: [{ type: 'alarm', test: true }] });
    expect(report('low_battery')).toMatchObject({ events: [{ type: 'low_battery', battery: 15 }] });
    expect(report('tamper')).toMatchObject({ events: [{ type: 'tamper' }] });
    expect(report('normal')).toMatchObject({ events: [{ type: 'alarm_cleared' }] });
    expect(decodeReport(lian, 'smoke_detector', { fields: { Alarm_Status: 99 } })).toMatchObject({ ok: false });
    expect(decodeReport(lian, 'smoke_detector', { fields: { Alarm_Status: '1' } })).toMatchObject({ ok: true, events: [{ type: 'alarm' }] });
  });

  it('gw-water-pressure: kPa and cm to MPa and m; a reading missing a required field is not produced', () => {
    const water = BUILTIN_MODELS['gw-water-pressure']!;
    expect(decodeReport(water, 'fire_water', { fields: { Pressure: 350, WaterLevel: 251 } })).toEqual({ ok: true, telemetry: [{ pressure: 0.35, tankLevel: 2.51 }], events: [] });
    expect(decodeReport(water, 'fire_water', { fields: { Pressure: 350 } })).toMatchObject({ ok: false });
  });

  it('a configured model: field names, scale, offset, booleans, value maps; it replaces a built-in of the same name', () => {
    const settings = nbiotSettingsSchema.parse({
      models: {
        'acme-smoke': {
          kind: 'smoke_detector',
          telemetry: { smoke: { from: 'dens', scale: 0.01 }, temperature: { from: 'tK', offset: -273.15 }, battery: 'bat' },
          events: [{ field: 'st', values: { A: { type: 'alarm' }, T: { type: 'alarm', test: true }, N: null } }],
        },
        'gw-water-pressure': { kind: 'fire_water', telemetry: { pressure: 'p', tankLevel: 'l', pumpRunning: { from: 'run', as: 'boolean', optional: true } } },
      },
    });
    const models = resolveModels(settings);
    expect(models.has('lian-nb-smoke')).toBe(true);
    expect(decodeReport(models.get('acme-smoke')!, 'smoke_detector', { fields: { dens: '250', tK: 296.15, bat: 60, st: 'A' } }))
      .toEqual({ ok: true, telemetry: [{ smoke: 2.5, temperature: 23, battery: 60 }], events: [{ type: 'alarm' }] });
    expect(decodeReport(models.get('gw-water-pressure')!, 'fire_water', { fields: { p: 0.4, l: 3, run: 1 } }))
      .toEqual({ ok: true, telemetry: [{ pressure: 0.4, tankLevel: 3, pumpRunning: true }], events: [] });
    expect(decodeReport(models.get('gw-water-pressure')!, 'fire_water', { fields: { p: 0.4, l: 3 } }))
      .toEqual({ ok: true, telemetry: [{ pressure: 0.4, tankLevel: 3 }], events: [] });
  });
});

describe('settings', () => {
  it('parse({}) works; keys and tokens are checked', () => {
    const s = nbiotSettingsSchema.parse({});
    expect(s).toMatchObject({ onenet: {}, ctwing: {}, models: {}, dedupeWindowMs: 86_400_000, maxDedupeEntries: 100_000 });
    expect(nbiotSettingsSchema.parse({ onenet: { main: { token: '12345678' } } }).onenet.main).toEqual({ token: '12345678', dialect: 'auto' });
    expect(nbiotSettingsSchema.safeParse({ onenet: { main: { token: 'short' } } }).success).toBe(false);
    expect(nbiotSettingsSchema.safeParse({ ctwing: { ct: { token: 'fifteen-chars!!' } } }).success).toBe(false);
    expect(nbiotSettingsSchema.safeParse({ onenet: { m: { token: '12345678', aesKey: STUDIO_KEY } } }).success).toBe(true);
    expect(nbiotSettingsSchema.safeParse({ onenet: { m: { token: '12345678', aesKey: LEGACY_KEY, dialect: 'legacy' } } }).success).toBe(true);
    expect(nbiotSettingsSchema.safeParse({ onenet: { m: { token: '12345678', aesKey: LEGACY_KEY, dialect: 'studio' } } }).success).toBe(false);
    expect(nbiotSettingsSchema.safeParse({ onenet: { m: { token: '12345678', aesKey: 'seventeen-chars!!' } } }).success).toBe(false);
    expect(nbiotSettingsSchema.safeParse({ onenet: { 'bad name': { token: '12345678' } } }).success).toBe(false);
    expect(nbiotSettingsSchema.safeParse({ models: { x: { kind: 'toaster' } } }).success).toBe(false);
  });
});

describe('platform messages', () => {
  it('Studio: a property notify → data keyed by IMEI (deviceName), the params flattened, ts the latest param time', () => {
    const [m] = studioMessages(STUDIO_MSG, 'main', { id: '3799902', time: 1 });
    expect(m).toMatchObject({ type: 'data', imei: '860870050503148', report: { ts: 1757948604533, fields: { imie: '860870050503148', Wear: '离线' } } });
    expect(m?.type === 'data' && m.keys.length).toBe(2);
    expect(studioMessages('{"productId":"p","deviceName":"860870050503148","messageType":"lifeCycle","data":{"status":"offline","time":1}}', 'main', { id: undefined, time: undefined }))
      .toEqual([{ type: 'status', imei: '860870050503148', alias: '860870050503148', online: false }]);
    expect(studioMessages('{"messageType":"sceneLog"}', 'main', { id: undefined, time: undefined })).toEqual([{ type: 'ignored', what: 'sceneLog' }]);
    expect(studioMessages('[1]', 'main', { id: undefined, time: undefined })[0]).toMatchObject({ type: 'undecodable' });
  });

  it('Studio: bin_data (base64) of an opaque resource becomes its hex', () => {
    const frame = encodeGwSmokeFrame({ status: 'alarm', smoke: 1, temperature: 2, battery: 3 });
    const msg = JSON.stringify({ messageType: 'notify', notifyType: 'property', imei: '860374051096202', data: { params: { '3200_0_5750': { time: 5, value: 'opaque', bin_data: frame.toString('base64') } } } });
    const [m] = studioMessages(msg, 'main', { id: undefined, time: undefined });
    expect(m).toMatchObject({ type: 'data', report: { ts: 5, fields: { '3200_0_5750': frame.toString('hex') } } });
  });

  it('legacy: the real NB capture, a batch of two data streams at one `at` as one report, online/offline, other types ignored', () => {
    const capture = { at: 1552274056993, imei: '866971031491171', type: 1, ds_id: '3200_0_5750', value: '0000350001350100000101FF7218F4', dev_id: 518816929 };
    expect(legacyMessages(capture, 'main', 500)).toMatchObject([{ type: 'data', imei: '866971031491171', alias: '518816929', report: { ts: 1552274056993, fields: { '3200_0_5750': capture.value } } }]);
    const batch = [
      { type: 1, dev_id: 1, imei: '866971031491171', ds_id: 'Pressure', at: 10, value: 350 },
      { type: 1, dev_id: 1, imei: '866971031491171', ds_id: 'WaterLevel', at: 10, value: 120 },
      { type: 2, dev_id: 1, status: 0, login_type: 10, at: 11 },
      { type: 7, cmd_id: 'x' },
    ];
    const out = legacyMessages(batch, 'main', 500);
    expect(out).toMatchObject([
      { type: 'data', report: { ts: 10, fields: { Pressure: 350, WaterLevel: 120 } } },
      { type: 'status', imei: undefined, alias: '1', online: false },
      { type: 'ignored', what: 'type 7' },
    ]);
    expect(out[0]?.type === 'data' && out[0].keys.length).toBe(1);
    // the same batch again has the same key; another value does not
    const again = legacyMessages(batch, 'main', 500)[0];
    const other = legacyMessages([batch[0], { ...batch[1], value: 121 }], 'main', 500)[0];
    expect(again?.type === 'data' && out[0]?.type === 'data' && again.keys).toEqual(out[0]?.type === 'data' && out[0].keys);
    expect(other?.type === 'data' && out[0]?.type === 'data' && other.keys[0] !== out[0].keys[0]).toBe(true);
  });

  it('legacy: a batch longer than maxBatch is cut, the rest one dead letter', () => {
    const batch = Array.from({ length: 5 }, (_, i) => ({ type: 2, dev_id: i, imei: '866971031491171', status: 1, at: i }));
    const out = legacyMessages(batch, 'main', 3);
    expect(out.map((m) => m.type)).toEqual(['status', 'status', 'status', 'undecodable']);
  });

  it('CTWing: the real LiAn capture, APPdata, online/offline, and what is ignored', () => {
    const [m] = ctwingMessages(LIAN_CAPTURE, 'ct');
    expect(m).toMatchObject({ type: 'data', imei: '860374051096202', alias: 'acf7baaee65e431eadfb8f5fe50e8b81', report: { ts: 1606982320277, fields: { Alarm_Status: 2, Battery_Level: 100 } } });
    const noImei = JSON.parse(LIAN_CAPTURE);
    noImei.IMEI = 'undefined';
    expect(ctwingMessages(JSON.stringify(noImei), 'ct')[0]).toMatchObject({ imei: '860374051096202' }); // from serviceData.IMEI
    const frame = encodeGwSmokeFrame({ status: 'reading', smoke: 1, temperature: 2, battery: 3 });
    const appData = new CtwingPush({ url: 'http://x' }).dataReportBody('860374051096202', { appData: frame }, 7);
    const [d] = ctwingMessages(appData, 'ct');
    expect(d?.type === 'data' && d.report.bytes?.equals(frame)).toBe(true);
    expect(ctwingMessages('{"messageType":"deviceOnlineOfflineReport","eventType":1,"deviceId":"abc","timestamp":1}', 'ct')).toEqual([{ type: 'status', imei: undefined, alias: 'abc', online: true }]);
    expect(ctwingMessages('{"messageType":"commandResponse","taskId":1}', 'ct')).toEqual([{ type: 'ignored', what: 'commandResponse' }]);
    expect(ctwingMessages('{"messageType":"dataReportTupUnion"}', 'ct')).toEqual([{ type: 'ignored', what: 'dataReportTupUnion' }]);
    expect(ctwingMessages('nope', 'ct')[0]).toMatchObject({ type: 'undecodable' });
    // the same report twice has the same key; a later timestamp does not
    const k = (b: string) => { const x = ctwingMessages(b, 'ct')[0]; return x?.type === 'data' ? x.keys[0] : undefined; };
    expect(k(LIAN_CAPTURE)).toBe(k(LIAN_CAPTURE));
    expect(k(LIAN_CAPTURE.replace('1606982320277', '1606982320278'))).not.toBe(k(LIAN_CAPTURE));
  });

  it('CTWing token: constant-time equality whatever the lengths', () => {
    expect(tokenMatches('ct-secret-0123456789', 'ct-secret-0123456789')).toBe(true);
    expect(tokenMatches('ct-secret-0123456789', 'ct-secret-012345678')).toBe(false);
    expect(tokenMatches('ct-secret-0123456789', undefined)).toBe(false);
  });

  it('the simulator signs as the platform does: its bodies verify', () => {
    const legacy = new OneNetPush({ url: 'http://x', token: 'tok12345', dialect: 'legacy' });
    const body = legacy.legacyBody('{"type":1,"value":42.0}', 'abcdefgh');
    const env = parseEnvelope(body, 'auto');
    expect(env).toMatchObject({ dialect: 'legacy', signed: '{"type":1,"value":42.0}' });
    if (!('error' in env)) expect(verifyOnenetSignature('tok12345', env.nonce, env.dialect === 'legacy' ? env.signed : env.msg, env.signature)).toBe(true);
    const studio = new OneNetPush({ url: 'http://x', token: 'tok12345', dialect: 'studio', aesKey: STUDIO_KEY });
    const s = parseEnvelope(studio.studioBody({ messageType: 'notify' }, '1', 'abcdefgh'), 'auto');
    expect(s).toMatchObject({ dialect: 'studio', id: '1' });
    if (!('error' in s) && s.dialect === 'studio') {
      expect(verifyOnenetSignature('tok12345', s.nonce, s.msg, s.signature)).toBe(true);
      expect(studioDecrypt(STUDIO_KEY, s.msg)).toBe('{"messageType":"notify"}');
    }
  });
});

describe('dedupe', () => {
  it('remembers within the window and at most maxEntries keys, forgetting the oldest', () => {
    const d = new Dedupe(1000, 100);
    for (let i = 0; i < 150; i++) d.remember(`k${i}`, 0);
    expect(d.size).toBe(100);
    expect(d.has('k0', 1)).toBe(false);
    expect(d.has('k49', 1)).toBe(false);
    expect(d.has('k50', 1)).toBe(true);
    expect(d.has('k149', 999)).toBe(true);
    expect(d.has('k149', 1000)).toBe(false); // the window is over
    expect(d.size).toBe(99);
  });

  it('a re-set key becomes the newest; keys are fixed-size hashes of their parts', () => {
    const m = new BoundedMap<number>(2);
    m.set('a', 1); m.set('b', 2); m.set('a', 3); m.set('c', 4);
    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual([3, undefined, 4]);
    expect(dedupeKey('x', 'y'.repeat(10_000))).toHaveLength(27);
    expect(dedupeKey('ab', 'c')).not.toBe(dedupeKey('a', 'bc'));
    expect(dedupeKey(undefined)).not.toBe(dedupeKey('undefined'));
  });
});
