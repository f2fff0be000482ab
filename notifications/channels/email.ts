/**
 * E-mail over SMTP (nodemailer): the notice's subject, its plain text, and an HTML version of the same
 * text in which everything is escaped (a device name or a note is data, never markup). One connection
 * per message (no pool to keep alive between alerts). Every SMTP step is bounded by `timeoutMs`.
 *
 * Outcomes: a 4xx SMTP reply, a connection or TLS failure, a timeout: retry; a 5xx reply (`550 no such
 * user`, `535 authentication failed`), a refused envelope: not.
 */
import nodemailer from 'nodemailer';
import type { ChannelSender, Notice, Recipient, SendOutcome } from '../model.js';
import type { ChannelsSettings } from './config.js';
import { failed, Redactor } from './http.js';
import { maskEmail } from './mask.js';

type EmailSettings = NonNullable<ChannelsSettings['email']>;

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The HTML version of a notice: its subject as the heading, its text line by line, the console link. */
export function emailHtml(notice: Notice): string {
  const lines = notice.text.split(/\r?\n/).map(escapeHtml).join('<br>\n');
  const link = /^https?:\/\//i.test(notice.url)
    ? `<p><a href="${escapeHtml(notice.url)}">在控制台查看 / Open in the console</a></p>\n`
    : '';
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(notice.subject)}</title></head>\n`
    + `<body>\n<h2>${escapeHtml(notice.subject)}</h2>\n<p>${lines}</p>\n${link}</body></html>\n`;
}

const ADDRESS = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/;

interface SmtpError { code?: string; responseCode?: number; response?: string; message?: string }

export class EmailSender implements ChannelSender {
  readonly channel = 'email' as const;
  private readonly transport: ReturnType<typeof nodemailer.createTransport>;
  private readonly redact: Redactor;

  constructor(private readonly settings: EmailSettings, timeoutMs: number) {
    this.redact = new Redactor([settings.pass]);
    this.transport = nodemailer.createTransport({
      host: settings.host,
      port: settings.port,
      secure: settings.secure,
      requireTLS: !settings.secure && settings.requireTls,
      ignoreTLS: false,
      auth: settings.user !== undefined && settings.pass !== undefined ? { user: settings.user, pass: settings.pass } : undefined,
      tls: { rejectUnauthorized: settings.rejectUnauthorized },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async send(to: Recipient, notice: Notice): Promise<SendOutcome> {
    const who = '邮件 E-mail';
    if (!ADDRESS.test(to.address)) return failed(false, `${who}：不是邮箱地址 ${maskEmail(to.address)} / ${who}: not an e-mail address: ${maskEmail(to.address)}`);
    try {
      const info = await this.transport.sendMail({
        from: this.settings.from,
        to: { name: to.name, address: to.address },
        subject: notice.subject,
        text: notice.text,
        html: emailHtml(notice),
      });
      if (info.rejected.length > 0) return failed(false, `${who}：收件人被拒 ${maskEmail(to.address)} / ${who}: recipient refused: ${maskEmail(to.address)}`);
      return { ok: true, providerId: info.messageId };
    } catch (err) {
      return this.failure(err as SmtpError, who);
    }
  }

  private failure(err: SmtpError, who: string): SendOutcome {
    const reply = err.responseCode;
    const detail = this.redact.clean([err.code, reply, err.response ?? err.message].filter((x) => x !== undefined && x !== '').join(' '))
      .replace(/[^\s<>]+@[^\s<>]+/g, (addr) => maskEmail(addr));
    if (typeof reply === 'number') {
      const transient = reply >= 400 && reply < 500;
      return failed(transient, `${who}：SMTP ${transient ? '暂时' : ''}拒绝 ${detail} / ${who}: SMTP ${transient ? 'temporarily ' : ''}refused: ${detail}`);
    }
    // no SMTP reply: the connection, DNS, TLS or a timeout failed; an envelope or message error is ours
    const permanent = err.code === 'EENVELOPE' || err.code === 'EMESSAGE' || err.code === 'EAUTH';
    return failed(!permanent, `${who}：发送失败 ${detail} / ${who}: sending failed: ${detail}`);
  }
}
