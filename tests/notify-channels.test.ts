/**
 * The channel senders against local providers that check authentication as the real ones document it
 * (tests/harness/providers.ts): a sender whose signature recipe is wrong is refused there, so these
 * tests fail. The cloud signers are also checked against the examples Aliyun and Tencent Cloud publish.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelSender, Notice, Recipient } from '../notifications/model.js';
import {
  aliyunAcs3Sign, CHANNEL_SECRET_PATHS, channelSecrets, channelsSettingsSchema, createSenders, maskEmail, maskPhone, tencentTc3Sign,
  truncateUtf8, type ChannelsSettingsInput,
} from '../notifications/channels/index.js';
import { startProviders, type FakeProviders, type ParsedMail } from './harness/providers.js';

const notice: Notice = {
  alertIds: [42],
  severity: 'critical',
  subject: '【严重】阳光小区 3号楼东梯 困人 / [Critical] Sunshine Garden building 3 east lift: trapped passengers',
  text: '阳光小区 3号楼东梯 困人\n时间 / Time: 2026-11-30 19:42\n备注 / Note: <script>alert("x")</script> & \'quoted\'\nSunshine Garden building 3 east lift: passengers trapped',
  markdown: '### 【严重】阳光小区 3号楼东梯 困人\n**[Critical]** Sunshine Garden building 3 east lift: passengers trapped',
  speech: '阳光小区3号楼东梯困人，请立即处理',
  params: { site: '阳光小区', device: '3号楼东梯', type: '困人 trapped' },
  url: 'https://console.example.com/alerts/42?view=detail&tab=log',
};

const phone = '13812345678';
const person = (channel: Recipient['channel'], address: string): Recipient => ({ channel, address, name: '张三 Zhang San' });

let p: FakeProviders;

beforeAll(async () => {
  p = await startProviders();
});
afterAll(async () => {
  await p.close();
});
beforeEach(() => {
  p.received.length = 0;
  p.rejected.length = 0;
});

function settings(extra: ChannelsSettingsInput = {}): ChannelsSettingsInput {
  const c = p.credentials;
  return {
    robots: {
      值班群: { kind: 'wecom', url: `${p.url}/cgi-bin/webhook/send?key=${c.wecomKey}` },
      'dt-duty': { kind: 'dingtalk', url: `${p.url}/robot/send?access_token=${c.dingtalk.accessToken}`, secret: c.dingtalk.secret },
      'fs-duty': { kind: 'feishu', url: `${p.url}/open-apis/bot/v2/hook/${c.feishu.token}`, secret: c.feishu.secret },
    },
    timeoutMs: '2s',
    ...extra,
  };
}

const aliyunSms = () => ({
  provider: 'aliyun' as const, endpoint: p.url,
  aliyun: { ...p.credentials.aliyun, signName: '阳光物业', templateCode: 'SMS_123456789' },
});
const tencentSms = () => ({
  provider: 'tencent' as const, endpoint: p.url,
  tencent: { ...p.credentials.tencent, sdkAppId: '1400000001', signName: '阳光物业', templateId: '1234567' },
});

function sender(channel: Recipient['channel'], input: ChannelsSettingsInput, now?: () => number): ChannelSender {
  const made = createSenders(channelsSettingsSchema.parse(input), now ? { now } : {}).get(channel);
  if (!made) throw new Error(`no ${channel} sender`);
  return made;
}

/** Every outcome's error text must be free of secrets and full phone numbers. */
function expectClean(error: string): void {
  const c = p.credentials;
  for (const secret of [c.wecomKey, c.dingtalk.accessToken, c.dingtalk.secret, c.feishu.token, c.feishu.secret, c.aliyun.accessKeySecret,
    c.tencent.secretKey, c.smtp.pass, phone]) {
    expect(error).not.toContain(secret);
  }
}

describe('signatures match the providers\' published examples', () => {
  it('Aliyun signature V3 (ACS3-HMAC-SHA256) reproduces the example of "V3版本请求体&签名机制"', () => {
    const signed = aliyunAcs3Sign({
      method: 'POST', host: 'ecs.cn-shanghai.aliyuncs.com', action: 'RunInstances', version: '2014-05-26',
      query: { RegionId: 'cn-shanghai', ImageId: 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd' },
      body: '', date: '2023-10-26T10:22:32Z', nonce: '3156853299f313e23d1673dc12e1703d',
      accessKeyId: 'YourAccessKeyId', accessKeySecret: 'YourAccessKeySecret',
    });
    expect(signed.authorization).toBe('ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;'
      + 'x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0');
    expect(signed.query).toBe('ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai');
  });

  it('Tencent Cloud TC3-HMAC-SHA256 reproduces the example of "签名方法 v3"', () => {
    const authorization = tencentTc3Sign({
      secretId: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE', secretKey: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE', service: 'cvm',
      headers: { 'content-type': 'application/json; charset=utf-8', host: 'cvm.tencentcloudapi.com' },
      payload: '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}',
      timestampSec: 1551113065,
    });
    expect(authorization).toBe('TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, '
      + 'SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168');
  });
});

describe('settings', () => {
  it('{} configures nothing, and no sender is made', () => {
    const parsed = channelsSettingsSchema.parse({});
    expect(parsed).toEqual({ robots: {}, timeoutMs: 10_000 });
    expect(createSenders(parsed).size).toBe(0);
  });

  it('names the missing provider block and malformed robot URLs by path', () => {
    const result = channelsSettingsSchema.safeParse({
      sms: { provider: 'aliyun' },
      voice: { provider: 'tencent', aliyun: { accessKeyId: 'a', accessKeySecret: 'b', ttsCode: 'TTS_1', calledShowNumber: '057100000000' } },
      robots: { a: { kind: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send' }, b: { kind: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send' } },
      email: { host: 'smtp.example.com', from: 'a@example.com', user: 'a@example.com' },
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['sms.aliyun', 'voice.tencent', 'robots.a.url', 'robots.b.url', 'email.pass']));
    const message = result.error!.issues.find((i) => i.path.join('.') === 'sms.aliyun')!.message;
    expect(message).toMatch(/^服务商为 aliyun 时必填 \/ required when provider is 'aliyun'$/);
  });

  it('makes only the configured channels, and lists its secrets for the placeholder check', () => {
    const parsed = channelsSettingsSchema.parse(settings({ sms: aliyunSms() }));
    expect([...createSenders(parsed).keys()].sort()).toEqual(['dingtalk', 'feishu', 'sms', 'wecom']);
    expect(CHANNEL_SECRET_PATHS).toContain('robots.*.url');
    expect(channelSecrets(parsed).map(([path]) => path)).toEqual(expect.arrayContaining([
      'robots.值班群.url', 'robots.dt-duty.secret', 'robots.fs-duty.url', 'sms.aliyun.accessKeySecret',
    ]));
    // e-mail: implicit TLS on 465 unless said otherwise
    expect(channelsSettingsSchema.parse({ email: { host: 'smtp.example.com', from: 'a@example.com' } }).email?.secure).toBe(true);
    expect(channelsSettingsSchema.parse({ email: { host: 'smtp.example.com', port: 587, from: 'a@example.com' } }).email?.secure).toBe(false);
  });
});

describe('robots resolve the recipient as a robot name', () => {
  it('refuses an unknown robot and a robot of another kind, for good', async () => {
    const wecom = sender('wecom', settings());
    expect(await wecom.send(person('wecom', '不存在'), notice)).toMatchObject({ ok: false, retry: false });
    const other = await wecom.send(person('wecom', 'dt-duty'), notice);
    expect(other).toMatchObject({ ok: false, retry: false });
    expect(p.received).toHaveLength(0);
  });
});

describe('WeCom group robot', () => {
  it('sends the Markdown, Chinese and English', async () => {
    const outcome = await sender('wecom', settings()).send(person('wecom', '值班群'), notice);
    expect(outcome).toEqual({ ok: true });
    expect(p.received).toHaveLength(1);
    const body = p.received[0]!.body as { msgtype: string; markdown: { content: string } };
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.content).toContain('阳光小区 3号楼东梯 困人');
    expect(body.markdown.content).toContain('Sunshine Garden building 3 east lift');
  });

  it('cuts a long message to 4096 bytes on a character boundary, ending with …', async () => {
    // 3-byte CJK, a 4-byte emoji, 1-byte ASCII: any cut by bytes or UTF-16 units would break one
    const long = `${'告警 alert 🚨 '.repeat(400)}END`;
    const outcome = await sender('wecom', settings()).send(person('wecom', '值班群'), { ...notice, markdown: long });
    expect(outcome).toEqual({ ok: true });
    const content = (p.received[0]!.body as { markdown: { content: string } }).markdown.content;
    expect(Buffer.byteLength(content, 'utf8')).toBeLessThanOrEqual(4096);
    expect(Buffer.byteLength(content, 'utf8')).toBeGreaterThan(4080);
    expect(content.endsWith('…')).toBe(true);
    expect(long.startsWith(content.slice(0, -1))).toBe(true);
    expect(content).not.toContain('\uFFFD');
    // every possible cut point of the emoji
    for (let max = 10; max < 20; max++) {
      const cut = truncateUtf8('ab🚨cd🚨ef', max);
      expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
      expect(Buffer.byteLength(cut, 'utf8')).toBeLessThanOrEqual(max);
    }
  });

  it('a wrong key is refused for good, and the key is not in the error', async () => {
    const input = settings();
    input.robots = { 值班群: { kind: 'wecom', url: `${p.url}/cgi-bin/webhook/send?key=wrong-key-0000` } };
    const outcome = await sender('wecom', input).send(person('wecom', '值班群'), notice);
    expect(outcome).toMatchObject({ ok: false, retry: false });
    if (!outcome.ok) {
      expect(outcome.error).toContain('93000');
      expect(outcome.error).not.toContain('wrong-key-0000');
    }
  });

  it('45009 (20 a minute) is retried after a minute; 503 after its Retry-After', async () => {
    const wecom = sender('wecom', settings());
    p.failNext('wecom', 1, { code: 45009, message: 'api freq out of limit' });
    expect(await wecom.send(person('wecom', '值班群'), notice)).toMatchObject({ ok: false, retry: true, retryAfterMs: 60_000 });
    p.failNext('wecom', 1, { status: 503, retryAfter: '7' });
    expect(await wecom.send(person('wecom', '值班群'), notice)).toMatchObject({ ok: false, retry: true, retryAfterMs: 7000 });
    expect(await wecom.send(person('wecom', '值班群'), notice)).toEqual({ ok: true });
  });

  it('no answer within the timeout is retried', async () => {
    p.failNext('wecom', 1, 'hang');
    const started = Date.now();
    const outcome = await sender('wecom', settings({ timeoutMs: 300 })).send(person('wecom', '值班群'), notice);
    expect(outcome).toMatchObject({ ok: false, retry: true });
    expect(Date.now() - started).toBeLessThan(5000);
    if (!outcome.ok) expectClean(outcome.error);
  });
});

describe('DingTalk robot (加签)', () => {
  it('signs the request as DingTalk checks it and sends the Markdown', async () => {
    const outcome = await sender('dingtalk', settings()).send(person('dingtalk', 'dt-duty'), notice);
    expect(p.rejected).toEqual([]);
    expect(outcome).toEqual({ ok: true });
    const body = p.received[0]!.body as { msgtype: string; markdown: { title: string; text: string } };
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.title).toBe(notice.subject);
    expect(body.markdown.text).toContain('困人');
    expect(body.markdown.text).toContain('passengers trapped');
  });

  it('a wrong secret is refused (310000) for good, the secret not in the error', async () => {
    const input = settings();
    input.robots = { 'dt-duty': { kind: 'dingtalk', url: `${p.url}/robot/send?access_token=${p.credentials.dingtalk.accessToken}`, secret: 'SECwrong-secret-000' } };
    const outcome = await sender('dingtalk', input).send(person('dingtalk', 'dt-duty'), notice);
    expect(outcome).toMatchObject({ ok: false, retry: false });
    expect(p.rejected.map((r) => r.code)).toEqual([310000]);
    if (!outcome.ok) {
      expect(outcome.error).toContain('310000');
      expect(outcome.error).not.toContain('SECwrong-secret-000');
      expectClean(outcome.error);
    }
  });

  it('a clock more than an hour off is refused', async () => {
    const outcome = await sender('dingtalk', settings(), () => Date.now() - 2 * 3_600_000).send(person('dingtalk', 'dt-duty'), notice);
    expect(outcome).toMatchObject({ ok: false, retry: false });
    // within the hour is fine
    expect(await sender('dingtalk', settings(), () => Date.now() - 50 * 60_000).send(person('dingtalk', 'dt-duty'), notice)).toEqual({ ok: true });
  });

  it('130101 (too fast: throttled 10 minutes) is retried', async () => {
    p.failNext('dingtalk', 1, { code: 130101, message: 'send too fast, exceed 20 times per minute' });
    expect(await sender('dingtalk', settings()).send(person('dingtalk', 'dt-duty'), notice))
      .toMatchObject({ ok: false, retry: true, retryAfterMs: 600_000 });
  });
});

describe('Feishu bot (签名校验)', () => {
  it('signs the request as Feishu checks it and sends a card with the Markdown', async () => {
    const outcome = await sender('feishu', settings()).send(person('feishu', 'fs-duty'), notice);
    expect(p.rejected).toEqual([]);
    expect(outcome).toEqual({ ok: true });
    const body = p.received[0]!.body as { msg_type: string; timestamp: string; card: { header: { title: { content: string } }; elements: Array<{ content: string }> } };
    expect(body.msg_type).toBe('interactive');
    expect(body.card.header.title.content).toBe(notice.subject);
    expect(body.card.elements[0]!.content).toContain('阳光小区');
    expect(body.card.elements[0]!.content).toContain('Sunshine Garden');
  });

  it('a wrong secret is refused (19021) for good', async () => {
    const input = settings();
    input.robots = { 'fs-duty': { kind: 'feishu', url: `${p.url}/open-apis/bot/v2/hook/${p.credentials.feishu.token}`, secret: 'wrong-feishu-secret' } };
    const outcome = await sender('feishu', input).send(person('feishu', 'fs-duty'), notice);
    expect(outcome).toMatchObject({ ok: false, retry: false });
    expect(p.rejected.map((r) => r.code)).toEqual([19021]);
    if (!outcome.ok) expectClean(outcome.error);
  });

  it('a clock more than an hour off is refused; rate limits 11232 and 9499 are retried', async () => {
    expect(await sender('feishu', settings(), () => Date.now() + 2 * 3_600_000).send(person('feishu', 'fs-duty'), notice))
      .toMatchObject({ ok: false, retry: false });
    const feishu = sender('feishu', settings());
    p.failNext('feishu', 1, { code: 11232, message: 'frequency limited' });
    p.failNext('feishu', 1, { status: 429, code: 9499, message: 'Too Many Request', retryAfter: '2' });
    expect(await feishu.send(person('feishu', 'fs-duty'), notice)).toMatchObject({ ok: false, retry: true });
    expect(await feishu.send(person('feishu', 'fs-duty'), notice)).toMatchObject({ ok: false, retry: true, retryAfterMs: 2000 });
  });
});

describe('Aliyun SMS and voice (signature V3)', () => {
  it('sends the template with the notice\'s parameters to a normalised number', async () => {
    // RFC 3986 encodes ' ( ) * ! which encodeURIComponent leaves: a signer that skips that is refused
    const params = { ...notice.params, note: "东梯(A*)! it's ~ok" };
    const outcome = await sender('sms', settings({ sms: aliyunSms() })).send(person('sms', '+86 138-1234-5678'), { ...notice, params });
    expect(p.rejected).toEqual([]);
    expect(outcome).toMatchObject({ ok: true, providerId: expect.stringMatching(/^biz-/) });
    const got = p.received[0]!;
    expect(got.action).toBe('SendSms');
    const sent = got.body as Record<string, string>;
    expect(sent.PhoneNumbers).toBe(phone);
    expect(sent.SignName).toBe('阳光物业');
    expect(sent.TemplateCode).toBe('SMS_123456789');
    expect(JSON.parse(sent.TemplateParam!)).toEqual(params);
  });

  it('a wrong secret (SignatureDoesNotMatch) and an unknown key (InvalidAccessKeyId.NotFound) are refused for good', async () => {
    const wrong = aliyunSms();
    wrong.aliyun.accessKeySecret = 'not-the-secret-0000';
    const outcome = await sender('sms', settings({ sms: wrong })).send(person('sms', phone), notice);
    expect(outcome).toMatchObject({ ok: false, retry: false });
    if (!outcome.ok) {
      expect(outcome.error).toContain('SignatureDoesNotMatch');
      expect(outcome.error).not.toContain('not-the-secret-0000');
      expectClean(outcome.error);
    }
    const unknown = aliyunSms();
    unknown.aliyun.accessKeyId = 'LTAIunknown';
    const refused = await sender('sms', settings({ sms: unknown })).send(person('sms', phone), notice);
    expect(refused).toMatchObject({ ok: false, retry: false });
    expect(p.rejected.map((r) => r.code)).toEqual(['SignatureDoesNotMatch', 'InvalidAccessKeyId.NotFound']);
  });

  it('x-acs-date more than 15 minutes off is refused', async () => {
    expect(await sender('sms', settings({ sms: aliyunSms() }), () => Date.now() - 20 * 60_000).send(person('sms', phone), notice))
      .toMatchObject({ ok: false, retry: false });
    expect(p.rejected.map((r) => r.code)).toEqual(['InvalidTimeStamp.Expired']);
  });

  it('throttling and 5xx are retried; an echoed number is masked', async () => {
    const sms = sender('sms', settings({ sms: aliyunSms() }));
    p.failNext('aliyun', 1, { code: 'isv.BUSINESS_LIMIT_CONTROL', message: `触发分钟级流控Permits:1 ${phone}` });
    const throttled = await sms.send(person('sms', phone), notice);
    expect(throttled).toMatchObject({ ok: false, retry: true });
    if (!throttled.ok) {
      expect(throttled.error).toContain('138****5678');
      expectClean(throttled.error);
    }
    p.failNext('aliyun', 1, { status: 503, code: 'ServiceUnavailable', retryAfter: '3' });
    expect(await sms.send(person('sms', phone), notice)).toMatchObject({ ok: false, retry: true, retryAfterMs: 3000 });
    p.failNext('aliyun', 1, { code: 'isv.SMS_TEMPLATE_ILLEGAL', message: '模板不合法' });
    expect(await sms.send(person('sms', phone), notice)).toMatchObject({ ok: false, retry: false });
  });

  it('refuses what is no phone number without sending, masked', async () => {
    const outcome = await sender('sms', settings({ sms: aliyunSms() })).send(person('sms', '12345678901234567'), notice);
    expect(outcome).toMatchObject({ ok: false, retry: false });
    if (!outcome.ok) expect(outcome.error).not.toContain('12345678901234567');
    expect(p.received).toHaveLength(0);
  });

  it('places a TTS voice call with the template parameters', async () => {
    const voice = {
      provider: 'aliyun' as const, endpoint: p.url,
      aliyun: { ...p.credentials.aliyun, ttsCode: 'TTS_10001', calledShowNumber: '057100000000', playTimes: 3 },
    };
    const outcome = await sender('voice', settings({ voice })).send(person('voice', phone), notice);
    expect(p.rejected).toEqual([]);
    expect(outcome).toMatchObject({ ok: true, providerId: expect.stringMatching(/^call-/) });
    const params = p.received[0]!.body as Record<string, string>;
    expect(p.received[0]!.action).toBe('SingleCallByTts');
    expect(params).toMatchObject({ CalledNumber: phone, CalledShowNumber: '057100000000', TtsCode: 'TTS_10001', PlayTimes: '3' });
    expect(JSON.parse(params.TtsParam!)).toEqual(notice.params);
    // a landline (the maintenance unit's 24 h phone) can be called too
    expect(await sender('voice', settings({ voice })).send(person('voice', '0755-8888 6666'), notice)).toMatchObject({ ok: true });
    expect((p.received[1]!.body as Record<string, string>).CalledNumber).toBe('075588886666');
  });
});

describe('Tencent Cloud SMS and voice (TC3-HMAC-SHA256)', () => {
  it('sends the template parameters in order to an E.164 number', async () => {
    const outcome = await sender('sms', settings({ sms: tencentSms() })).send(person('sms', phone), notice);
    expect(p.rejected).toEqual([]);
    expect(outcome).toMatchObject({ ok: true, providerId: expect.stringMatching(/^serial-/) });
    expect(p.received[0]!.action).toBe('SendSms');
    expect(p.received[0]!.body).toEqual({
      PhoneNumberSet: ['+8613812345678'], SmsSdkAppId: '1400000001', SignName: '阳光物业', TemplateId: '1234567',
      TemplateParamSet: ['阳光小区', '3号楼东梯', '困人 trapped'],
    });
  });

  it('a wrong key is refused (AuthFailure.SignatureFailure) for good; an old timestamp too', async () => {
    const wrong = tencentSms();
    wrong.tencent.secretKey = 'not-the-key-00000';
    const outcome = await sender('sms', settings({ sms: wrong })).send(person('sms', phone), notice);
    expect(outcome).toMatchObject({ ok: false, retry: false });
    if (!outcome.ok) {
      expect(outcome.error).toContain('AuthFailure.SignatureFailure');
      expect(outcome.error).not.toContain('not-the-key-00000');
    }
    expect(await sender('sms', settings({ sms: tencentSms() }), () => Date.now() - 10 * 60_000).send(person('sms', phone), notice))
      .toMatchObject({ ok: false, retry: false });
    expect(p.rejected.map((r) => r.code)).toEqual(['AuthFailure.SignatureFailure', 'AuthFailure.SignatureExpire']);
  });

  it('per-number and API rate limits are retried; a template error is not', async () => {
    const sms = sender('sms', settings({ sms: tencentSms() }));
    p.failNext('tencent', 1, { code: 'LimitExceeded.PhoneNumberThirtySecondLimit', message: `单个手机号30秒内下发短信条数超过设定的上限 ${phone}` });
    const limited = await sms.send(person('sms', phone), notice);
    expect(limited).toMatchObject({ ok: false, retry: true });
    if (!limited.ok) expectClean(limited.error);
    p.failNext('tencent', 1, { code: 'RequestLimitExceeded', message: 'request limit exceeded' });
    expect(await sms.send(person('sms', phone), notice)).toMatchObject({ ok: false, retry: true });
    p.failNext('tencent', 1, { code: 'FailedOperation.TemplateIncorrectOrUnapproved', message: 'template' });
    expect(await sms.send(person('sms', phone), notice)).toMatchObject({ ok: false, retry: false });
  });

  it('places a TTS voice call', async () => {
    const voice = {
      provider: 'tencent' as const, endpoint: p.url,
      tencent: { ...p.credentials.tencent, templateId: '99001', voiceSdkAppId: '1400000002', playTimes: 2 },
    };
    const outcome = await sender('voice', settings({ voice })).send(person('voice', phone), notice);
    expect(p.rejected).toEqual([]);
    expect(outcome).toMatchObject({ ok: true, providerId: expect.stringMatching(/^call-/) });
    expect(p.received[0]!.action).toBe('SendTtsVoice');
    expect(p.received[0]!.body).toEqual({
      TemplateId: '99001', TemplateParamSet: ['阳光小区', '3号楼东梯', '困人 trapped'], CalledNumber: '+8613812345678',
      VoiceSdkAppid: '1400000002', PlayTimes: 2,
    });
  });

  it('a timeout is retried', async () => {
    p.failNext('tencent', 1, 'hang');
    const outcome = await sender('sms', settings({ sms: tencentSms(), timeoutMs: 300 })).send(person('sms', phone), notice);
    expect(outcome).toMatchObject({ ok: false, retry: true });
  });
});

describe('e-mail (SMTP)', () => {
  const email = (pass?: string) => ({
    host: '127.0.0.1', port: p.smtpPort, secure: false, requireTls: false,
    user: p.credentials.smtp.user, pass: pass ?? p.credentials.smtp.pass, from: '"物联网告警 IoT Alerts" <alerts@example.com>',
  });

  it('logs in and sends the subject, the text and an escaped HTML version', async () => {
    const outcome = await sender('email', settings({ email: email() })).send(person('email', 'zhang.san@example.com'), notice);
    expect(outcome).toMatchObject({ ok: true, providerId: expect.any(String) });
    const got = p.received[0]!;
    expect(got.envelope).toEqual({ from: 'alerts@example.com', to: ['zhang.san@example.com'], user: p.credentials.smtp.user });
    const mail = got.body as ParsedMail;
    expect(mail.subject).toBe(notice.subject);
    expect(mail.from).toBe('物联网告警 IoT Alerts <alerts@example.com>');
    expect(mail.text?.trim()).toBe(notice.text);
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;');
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('阳光小区 3号楼东梯 困人');
    expect(mail.html).toContain('Sunshine Garden building 3 east lift');
    expect(mail.html).toContain('href="https://console.example.com/alerts/42?view=detail&amp;tab=log"');
  });

  it('a wrong password is refused for good, and not in the error', async () => {
    const outcome = await sender('email', settings({ email: email('wrong-password-000') })).send(person('email', 'zhang.san@example.com'), notice);
    expect(outcome).toMatchObject({ ok: false, retry: false });
    if (!outcome.ok) {
      expect(outcome.error).not.toContain('wrong-password-000');
      expect(outcome.error).not.toContain('zhang.san@example.com');
    }
    expect(p.rejected.map((r) => r.code)).toEqual([535]);
  });

  it('4xx is retried, 5xx is not, a server that stops answering is retried', async () => {
    const mailer = sender('email', settings({ email: email(), timeoutMs: 500 }));
    p.failNext('smtp', 1, { code: 451, message: 'try again later' });
    expect(await mailer.send(person('email', 'zhang.san@example.com'), notice)).toMatchObject({ ok: false, retry: true });
    p.failNext('smtp', 1, { code: 550, message: 'mailbox unavailable' });
    expect(await mailer.send(person('email', 'zhang.san@example.com'), notice)).toMatchObject({ ok: false, retry: false });
    p.failNext('smtp', 1, 'hang');
    expect(await mailer.send(person('email', 'zhang.san@example.com'), notice)).toMatchObject({ ok: false, retry: true });
  });
});

describe('masking', () => {
  it('shows the ends of a number and the first letter of an address', () => {
    expect(maskPhone('13812345678')).toBe('138****5678');
    expect(maskPhone('+86 138-1234-5678')).toBe('+86 138****5678');
    expect(maskPhone('075588886666')).toBe('075****6666');
    expect(maskPhone('12345')).toBe('****45');
    expect(maskEmail('zhang.san@example.com')).toBe('z***@example.com');
    expect(maskEmail('not-an-address')).toBe('***');
  });
});
