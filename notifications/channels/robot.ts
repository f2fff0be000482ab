/**
 * What the three group robots share: a recipient's address is a robot's name in the settings, and a
 * robot answers HTTP 200 with its own error code, some of which mean "too fast, later" and the rest
 * "never like this".
 */
import type { Recipient, SendOutcome } from '../model.js';
import type { RobotKind, RobotSettings } from './config.js';
import { failed, httpFailure, Redactor, type Failed, type HttpAnswer } from './http.js';

export const ROBOT_NAMES: Readonly<Record<RobotKind, string>> = { wecom: '企业微信机器人 WeCom robot', dingtalk: '钉钉机器人 DingTalk robot', feishu: '飞书机器人 Feishu robot' };

/** The robot `to.address` names, if it is one of this kind; else a permanent refusal. */
export function resolveRobot(robots: Readonly<Record<string, RobotSettings>>, kind: RobotKind, to: Recipient): RobotSettings | Failed {
  const robot = Object.hasOwn(robots, to.address) ? robots[to.address] : undefined;
  if (!robot) return failed(false, `没有名为「${to.address}」的机器人 / no robot named "${to.address}" in notifications.channels.robots`);
  if (robot.kind !== kind) {
    return failed(false, `机器人「${to.address}」是 ${robot.kind}，不是 ${kind} / robot "${to.address}" is a ${robot.kind} robot, not ${kind}`);
  }
  return robot;
}

export function robotRedactor(robot: RobotSettings): Redactor {
  const url = new URL(robot.url);
  // WeCom's key and DingTalk's access token are query parameters; Feishu's token is the last path segment
  const token = robot.kind === 'feishu' ? url.pathname.split('/').pop() : undefined;
  return new Redactor([robot.url, robot.secret, url.searchParams.get('key') ?? undefined, url.searchParams.get('access_token') ?? undefined, token]);
}

export interface RobotCodes {
  /** The field of the answer holding the code (`errcode`, `code`) and its message. */
  codeField: string;
  messageField: string;
  /** Codes that mean "too fast / busy": retry, after this long if given. */
  retry: ReadonlyMap<number, number | undefined>;
}

/** Decides an answer by the robot's code; answers without one by their HTTP status. */
export function robotOutcome(answer: HttpAnswer, codes: RobotCodes, who: string, redact: Redactor, now: number): SendOutcome {
  if (answer.status >= 500 || answer.status === 429 || answer.status === 408) return httpFailure(answer, now, who);
  const body = answer.json as Record<string, unknown> | undefined;
  const code = body && typeof body === 'object' ? body[codes.codeField] : undefined;
  if (typeof code !== 'number') {
    if (answer.status >= 200 && answer.status < 300) return failed(true, `${who}：应答无法识别 / ${who}: unrecognised answer (HTTP ${answer.status})`);
    return httpFailure(answer, now, who);
  }
  if (code === 0) return { ok: true };
  const message = redact.clean(String(body?.[codes.messageField] ?? ''));
  if (codes.retry.has(code)) {
    const after = codes.retry.get(code);
    return failed(true, `${who}：限流或繁忙 ${code} ${message} / ${who}: throttled or busy: ${code} ${message}`, after);
  }
  return failed(false, `${who}：拒绝 ${code} ${message} / ${who}: refused: ${code} ${message}`);
}
