/**
 * DingTalk custom robot (钉钉自定义机器人) with 加签: `POST <webhook url>&timestamp=<ms>&sign=<S>` where
 * S = urlEncode(base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret))), UTF-8
 * (DingTalk's custom robot security settings). The platform refuses a timestamp more than an hour
 * from its clock. Answers HTTP 200 with `{errcode, errmsg}`: 0 is sent; 130101 is the robot's limit
 * (20 messages a minute, then throttled for 10 minutes), -1 "system busy": retry; 310000 (signature,
 * keyword or IP check failed), 300001 (unknown token) and the rest are refusals.
 */
import { createHmac } from 'node:crypto';
import type { ChannelSender, Notice, Recipient, SendOutcome } from '../model.js';
import type { RobotSettings } from './config.js';
import { failed, isFailed, post, truncateUtf8, type HttpDeps } from './http.js';
import { resolveRobot, ROBOT_NAMES, robotOutcome, robotRedactor, type RobotCodes } from './robot.js';

/** DingTalk caps a message at 20 000 bytes; the JSON around the text takes some. */
export const DINGTALK_TEXT_MAX_BYTES = 18_000;

const CODES: RobotCodes = {
  codeField: 'errcode',
  messageField: 'errmsg',
  retry: new Map([[130101, 600_000], [90030, 600_000], [-1, undefined]]),
};

/** base64(HMAC-SHA256(secret, `${timestampMs}\n${secret}`)), not yet URL-encoded (URLSearchParams does that). */
export function dingtalkSign(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`, 'utf8').digest('base64');
}

/** The webhook URL with `timestamp` and `sign` added (when the robot has a secret). */
export function dingtalkUrl(robot: RobotSettings, timestampMs: number): string {
  if (robot.secret === undefined) return robot.url;
  const url = new URL(robot.url);
  url.searchParams.set('timestamp', String(timestampMs));
  url.searchParams.set('sign', dingtalkSign(robot.secret, timestampMs));
  return url.toString();
}

export function dingtalkMessage(notice: Notice) {
  return {
    msgtype: 'markdown',
    // the title is what the chat list and the phone's notification show
    markdown: { title: truncateUtf8(notice.subject, 200), text: truncateUtf8(notice.markdown, DINGTALK_TEXT_MAX_BYTES) },
    at: { atMobiles: [] as string[], isAtAll: false },
  };
}

export class DingtalkSender implements ChannelSender {
  readonly channel = 'dingtalk' as const;

  constructor(private readonly robots: Readonly<Record<string, RobotSettings>>, private readonly deps: HttpDeps) {}

  async send(to: Recipient, notice: Notice): Promise<SendOutcome> {
    const robot = resolveRobot(this.robots, 'dingtalk', to);
    if ('ok' in robot) return robot;
    const who = ROBOT_NAMES.dingtalk;
    const redact = robotRedactor(robot);
    try {
      const url = dingtalkUrl(robot, Math.round(this.deps.now()));
      const answer = await post(this.deps, url, { 'content-type': 'application/json; charset=utf-8' },
        JSON.stringify(dingtalkMessage(notice)), redact, who);
      if (isFailed(answer)) return answer;
      return robotOutcome(answer, CODES, who, redact, this.deps.now());
    } catch (err) {
      return failed(false, `${who}：内部错误 / ${who}: internal error: ${redact.clean(String(err))}`);
    }
  }
}
