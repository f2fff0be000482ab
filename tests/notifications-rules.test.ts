/**
 * Who hears what, worked by hand: a contact's rules (types, domain prefixes, least severity), the
 * recipients each channel gives, quiet hours across midnight in the installation's time zone, and
 * the message people read (Chinese first, English, names, the link).
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../alerts/index.js';
import { recipientsOf, ruleTakes } from '../notifications/dispatcher.js';
import { quietUntil } from '../notifications/quiet.js';
import { render, severityOf } from '../notifications/templates.js';
import type { Contact } from '../notifications/model.js';

const TZ = 'Asia/Shanghai';
/** 2026-11-30 at hh:mm in Shanghai. */
const at = (hh: number, mm = 0) => Date.parse(`2026-11-30T${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:00+08:00`);

const alert = (over: Partial<Alert> = {}): Alert => ({
  id: 7, type: 'elevator.trapped', subject: '', severity: 'critical', state: 'open', label: { zh: '困人', en: 'Trapped passengers' }, domain: 'elevator',
  deviceId: 'el-3', deviceKind: 'elevator', siteId: 's1', companyId: 'co-1', maintenanceUnitId: 'mu-1', siteName: '阳光小区', companyName: '阳光物业',
  maintenanceUnitName: '迅达维保', location: '3号楼东梯', openedAt: at(3, 5), updatedAt: at(3, 5), lastRaisedAt: at(3, 5), count: 1, conditionActive: true,
  suppressed: false, confirmation: null, forwardedUnverified: false, deadlines: { acknowledgeBy: null, resolveBy: null, verifyBy: null, arrive: null },
  acknowledgedAt: null, acknowledgements: [], unitAcknowledgedAt: null, arrivedAt: null, arrivedBy: null, dispatchedAt: null, resolvedAt: null,
  closedAt: null, clearedAt: null, escalations: [], queues: ['property/co-1', 'maintenance/mu-1'], details: {}, ...over,
});

const contact = (over: Partial<Contact> = {}): Contact => ({
  id: 'c-1', party: 'property/co-1', name: '王值班', phone: '13812345678', email: 'duty@example.com', robots: ['ops-wecom', 'ops-ding'],
  rules: [], disabled: false, createdAt: 0, updatedAt: 0, ...over,
});

const kinds: Record<string, 'wecom' | 'dingtalk' | 'feishu'> = { 'ops-wecom': 'wecom', 'ops-ding': 'dingtalk' };
const robotKind = (name: string) => kinds[name];

describe('a contact rule', () => {
  it('takes exact types, domain prefixes (by type or by the alert\'s domain) and a least severity', () => {
    expect(ruleTakes({ channels: ['sms'] }, alert())).toBe(true);
    expect(ruleTakes({ channels: ['sms'], types: ['elevator.trapped'] }, alert())).toBe(true);
    expect(ruleTakes({ channels: ['sms'], types: ['elevator.*'] }, alert())).toBe(true);
    expect(ruleTakes({ channels: ['sms'], types: ['fire.*'] }, alert())).toBe(false);
    // smoke.* types are in the fire domain
    expect(ruleTakes({ channels: ['sms'], types: ['fire.*'] }, alert({ type: 'smoke.tamper', domain: 'fire', severity: 'minor' }))).toBe(true);
    expect(ruleTakes({ channels: ['sms'], minSeverity: 'major' }, alert({ severity: 'minor' }))).toBe(false);
    expect(ruleTakes({ channels: ['sms'], minSeverity: 'major' }, alert({ severity: 'major' }))).toBe(true);
    expect(ruleTakes({ channels: ['sms'], minSeverity: 'major' }, alert({ severity: 'critical' }))).toBe(true);
  });

  it('gives one recipient per channel and address: robots of the channel\'s kind, the phone, the e-mail', () => {
    const c = contact({ rules: [{ channels: ['sms', 'wecom'] }, { channels: ['sms', 'email', 'dingtalk', 'feishu'], minSeverity: 'critical' }] });
    expect(recipientsOf(c, alert(), robotKind)).toEqual([
      { channel: 'sms', address: '13812345678', name: '王值班', contactId: 'c-1' },
      { channel: 'wecom', address: 'ops-wecom', name: 'ops-wecom', contactId: 'c-1' },
      { channel: 'email', address: 'duty@example.com', name: '王值班', contactId: 'c-1' },
      { channel: 'dingtalk', address: 'ops-ding', name: 'ops-ding', contactId: 'c-1' },
    ]);
    // a minor alert: only the first rule
    expect(recipientsOf(c, alert({ severity: 'minor' }), robotKind).map((r) => r.channel)).toEqual(['sms', 'wecom']);
    // no phone: no sms
    expect(recipientsOf(contact({ phone: undefined, rules: [{ channels: ['sms', 'voice'] }] }), alert(), robotKind)).toEqual([]);
  });
});

describe('quiet hours', () => {
  const night = { from: '22:00', to: '07:00' };
  it('hold until they end, across midnight, in the installation\'s time zone', () => {
    expect(quietUntil(night, at(23, 30), TZ)).toBe(Date.parse('2026-12-01T07:00:00+08:00'));
    expect(quietUntil(night, at(3, 0), TZ)).toBe(at(7, 0));
    expect(quietUntil(night, at(6, 59), TZ)).toBe(at(7, 0));
    expect(quietUntil(night, at(7, 0), TZ)).toBeUndefined();
    expect(quietUntil(night, at(21, 59), TZ)).toBeUndefined();
    expect(quietUntil({ from: '12:00', to: '14:00' }, at(13, 0), TZ)).toBe(at(14, 0));
    expect(quietUntil({ from: '12:00', to: '14:00' }, at(14, 0), TZ)).toBeUndefined();
    expect(quietUntil(undefined, at(3, 0), TZ)).toBeUndefined();
  });
});

describe('the message people read', () => {
  it('says what, where and when in Chinese then English, with the link; merged alerts are counted', () => {
    const n = render([alert()], 'raised', { baseUrl: 'https://iot.example.cn/', timeZone: TZ });
    expect(n.subject).toBe('【紧急】阳光小区 3号楼东梯 困人 / [Critical] Trapped passengers');
    expect(n.text.split('\n')).toEqual([
      '新告警 / New alert',
      '阳光小区 3号楼东梯：困人 / Trapped passengers (11/30 03:05)',
      '维保单位 / Maintenance unit: 迅达维保',
      '查看 / Open: https://iot.example.cn/#/alerts/7',
    ]);
    expect(n.url).toBe('https://iot.example.cn/#/alerts/7');
    expect(n.params).toEqual({ site: '阳光小区', location: '3号楼东梯', alert: '困人', time: '11/30 03:05' });
    expect(n.speech).toContain('阳光小区');

    const merged = render([alert({ severity: 'major', id: 8, label: { zh: '门锁故障', en: 'Door lock fault' } }), alert({ id: 9, severity: 'minor' })], 'raised', { baseUrl: 'https://iot.example.cn', timeZone: TZ });
    expect(merged.alertIds).toEqual([8, 9]);
    expect(merged.severity).toBe('major');
    expect(merged.subject).toContain('等 2 条');
    expect(merged.subject).toContain('(+1 more)');
    expect(severityOf([alert({ severity: 'warning' }), alert({ severity: 'minor' })])).toBe('minor');
  });

  it('escapes Markdown in what comes from the registry', () => {
    const n = render([alert({ siteName: '[点我](http://evil)', location: '**3号楼**' })], 'raised', { baseUrl: 'https://iot.example.cn', timeZone: TZ });
    expect(n.markdown).toContain('\\[点我\\]\\(http://evil\\)');
    expect(n.markdown).toContain('\\*\\*3号楼\\*\\*');
    expect(n.markdown).toContain('[查看告警 / Open the alert](https://iot.example.cn/#/alerts/7)');
  });
});

describe('provider secrets in the settings', () => {
  it('a change-me placeholder in any provider secret stops the start, naming where it is (and not its value)', async () => {
    const { loadConfig, ConfigError } = await import('../gateway/config.js');
    const env = { ADMIN_TOKEN: 'a-real-admin-token-0123456789abcdef' };
    const channels = {
      robots: { duty: { kind: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send?access_token=real-token-0123', secret: 'SECchange-me-please' } },
      sms: { provider: 'aliyun', aliyun: { accessKeyId: 'LTAI5t000', accessKeySecret: 'change-me-aliyun', signName: '阳光物业', templateCode: 'SMS_1' } },
    };
    let error: unknown;
    try { loadConfig(env, { notifications: { channels } }); } catch (err) { error = err; }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as InstanceType<typeof ConfigError>).problems.join('\n');
    expect(problems).toContain('notifications.channels.robots.duty.secret');
    expect(problems).toContain('notifications.channels.sms.aliyun.accessKeySecret');
    expect(problems).not.toContain('change-me-aliyun');
  });
});
