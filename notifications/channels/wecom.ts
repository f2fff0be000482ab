/**
 * WeCom group robot (企业微信群机器人): `POST <webhook url>` (…/cgi-bin/webhook/send?key=KEY) with a
 * JSON message; the key in the URL is the only credential (no signature). Answers HTTP 200 with
 * `{errcode, errmsg}`: 0 is sent, 45009 is the per-robot limit (20 messages a minute: retry after
 * a minute), -1 is "system busy"; anything else (93000 invalid webhook URL, 40058 bad content, …)
 * will not get better by sending it again.
 *
 * Markdown content is limited to 4096 bytes of UTF-8: a longer notice is cut on a character
 * boundary and ends with "…".
 */
import type { ChannelSender, Notice, Recipient, SendOutcome } from '../model.js';
import type { RobotSettings } from './config.js';
import { failed, isFailed, post, truncateUtf8, type HttpDeps } from './http.js';
import { resolveRobot, ROBOT_NAMES, robotOutcome, robotRedactor, type RobotCodes } from './robot.js';

export const WECOM_MARKDOWN_MAX_BYTES = 4096;

const CODES: RobotCodes = {
  codeField: 'errcode',
  messageField: 'errmsg',
  retry: new Map([[45009, 60_000], [-1, undefined]]),
};

export function wecomMessage(notice: Notice): { msgtype: 'markdown'; markdown: { content: string } } {
  return { msgtype: 'markdown', markdown: { content: truncateUtf8(notice.markdown, WECOM_MARKDOWN_MAX_BYTES) } };
}

export class WecomSender implements ChannelSender {
  readonly channel = 'wecom' as const;

  constructor(private readonly robots: Readonly<Record<string, RobotSettings>>, private readonly deps: HttpDeps) {}

  async send(to: Recipient, notice: Notice): Promise<SendOutcome> {
    const robot = resolveRobot(this.robots, 'wecom', to);
    if ('ok' in robot) return robot;
    const who = ROBOT_NAMES.wecom;
    const redact = robotRedactor(robot);
    try {
      const answer = await post(this.deps, robot.url, { 'content-type': 'application/json; charset=utf-8' },
        JSON.stringify(wecomMessage(notice)), redact, who);
      if (isFailed(answer)) return answer;
      return robotOutcome(answer, CODES, who, redact, this.deps.now());
    } catch (err) {
      return failed(false, `${who}：内部错误 / ${who}: internal error: ${redact.clean(String(err))}`);
    }
  }
}
