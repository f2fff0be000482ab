/**
 * Feishu custom bot (飞书自定义机器人) with 签名校验: `POST …/open-apis/bot/v2/hook/<token>` with
 * `timestamp` (seconds, as a string) and `sign` in the JSON body, where
 * sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = "")) — the key is the string
 * and the message empty, the reverse of DingTalk. The timestamp must be within an hour of Feishu's
 * clock. Answers `{code, msg}`: 0 is sent; 9499 and 11232 are rate limits (100 a minute, 5 a
 * second per bot): retry; 19021 (signature or timestamp), 19022 (IP), 19024 (keyword) and the rest
 * are refusals. The request body is limited to 20 KB.
 *
 * The message is an interactive card: a header with the subject (red for critical) and the notice's
 * Markdown as a markdown element, which Feishu renders (a `text` message would not).
 */
import { createHmac } from 'node:crypto';
import type { ChannelSender, Notice, Recipient, SendOutcome } from '../model.js';
import type { RobotSettings } from './config.js';
import { failed, isFailed, post, truncateUtf8, type HttpDeps } from './http.js';
import { resolveRobot, ROBOT_NAMES, robotOutcome, robotRedactor, type RobotCodes } from './robot.js';

/** 20 KB per request; the card around the text takes some. */
export const FEISHU_TEXT_MAX_BYTES = 16_000;

const CODES: RobotCodes = {
  codeField: 'code',
  messageField: 'msg',
  retry: new Map([[9499, undefined], [11232, undefined]]),
};

const TEMPLATE: Readonly<Record<Notice['severity'], string>> = { critical: 'red', major: 'orange', minor: 'yellow', warning: 'blue' };

/** base64(HMAC-SHA256(key = `${timestampSec}\n${secret}`, message = "")). */
export function feishuSign(secret: string, timestampSec: number): string {
  return createHmac('sha256', `${timestampSec}\n${secret}`).update('').digest('base64');
}

export function feishuMessage(notice: Notice, robot: RobotSettings, nowMs: number): Record<string, unknown> {
  const card = {
    config: { wide_screen_mode: true },
    header: { title: { tag: 'plain_text', content: truncateUtf8(notice.subject, 500) }, template: TEMPLATE[notice.severity] ?? 'blue' },
    elements: [{ tag: 'markdown', content: truncateUtf8(notice.markdown, FEISHU_TEXT_MAX_BYTES) }],
  };
  if (robot.secret === undefined) return { msg_type: 'interactive', card };
  const timestamp = Math.floor(nowMs / 1000);
  return { timestamp: String(timestamp), sign: feishuSign(robot.secret, timestamp), msg_type: 'interactive', card };
}

export class FeishuSender implements ChannelSender {
  readonly channel = 'feishu' as const;

  constructor(private readonly robots: Readonly<Record<string, RobotSettings>>, private readonly deps: HttpDeps) {}

  async send(to: Recipient, notice: Notice): Promise<SendOutcome> {
    const robot = resolveRobot(this.robots, 'feishu', to);
    if ('ok' in robot) return robot;
    const who = ROBOT_NAMES.feishu;
    const redact = robotRedactor(robot);
    try {
      const answer = await post(this.deps, robot.url, { 'content-type': 'application/json; charset=utf-8' },
        JSON.stringify(feishuMessage(notice, robot, this.deps.now())), redact, who);
      if (isFailed(answer)) return answer;
      return robotOutcome(answer, CODES, who, redact, this.deps.now());
    } catch (err) {
      return failed(false, `${who}：内部错误 / ${who}: internal error: ${redact.clean(String(err))}`);
    }
  }
}
