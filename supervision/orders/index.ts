/**
 * Rectification orders (整改通知, 限期整改 → 回复 → 复查 → 销号) and their attachments. An authority
 * or an area (market supervision, the fire service, a street, a community, the city's admin)
 * issues an order to a property company or a maintenance unit with a deadline; the target replies
 * with a note and photos / PDFs; the supervising party returns it (复查不合格) or closes it (销号),
 * or refers it to another department (移交). An order whose deadline passes while the target still
 * has to act becomes overdue and goes up the path of 004 art. 11 (community → street → city and
 * the authority that fits it). Every step is in the order's history; the ledger (台账) exports as
 * CSV and XLSX.
 *
 * Open orders are mirrored in memory (like the alert ledger's active alerts): the overdue check and
 * a site's handover, which runs synchronously inside the handover's unit of work, read them there.
 * Closed orders are read from the store. Each change is written over the version it read, so two
 * nodes never overwrite each other (cluster mode: the commit is refused, and the mirror read again).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Database, Store } from '../../core/db/store.js';
import { StoreConflictError } from '../../core/db/store.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { AuditLog } from '../../core/audit.js';
import { CodedHttpError } from '../../core/errors.js';
import { canSeeDevice, canSeeSite, type Device, type Principal, type Registry, type Site } from '../../registry/index.js';
import type { Alert } from '../../alerts/index.js';
import type { OrdersConfig } from '../config.js';
import type { OrderFact, OrderSource, OrderTargetType, OrderState } from '../facts.js';
import type { OrderMover } from '../handover.js';
import { OrderError, invalid, unknownReference } from './errors.js';
import {
  ISSUER_ROLES, SYSTEM_ACTOR, TRANSITIONS, canSeeOrder, isTarget, partyLabel, partyOf, uploaderOf,
  type AttachmentRef, type HistoryEntry, type Order, type OrderAction,
} from './model.js';
import { ORDER_MIGRATIONS, orderQueries, type ListFilter, type OrderTables } from './store.js';
import { AttachmentFiles, type AttachmentType } from './attachments.js';
import { parseDue, type IssueRequest } from './input.js';
import { MAX_UNUSED_PER_PARTY } from './limits.js';
import { ordersRoutes } from './routes.js';
import { DueCheck } from '../../core/due-check.js';


export interface OrdersDeps {
  db: Database;
  registry: Registry;
  /** An order may name an alert the issuer can see (404 otherwise, as for any alert outside a scope). */
  alerts: { visible(p: Principal, id: number): Promise<Readonly<Alert>> };
  clock: Clock;
  config: OrdersConfig;
  /** The installation's time zone, for dates given without a time. */
  timeZone: string;
  audit: AuditLog;
  log: Logger;
  /** Attachments are stored under `{dataDir}/attachments`. */
  dataDir: string;
}

/** An order with its history and the names of its attachments, as `GET /orders/{id}` shows it. */
export type OrderDetail = Order & { history: HistoryEntry[] };

export type AttachmentRow = OrderTables['attachments'];

const FIRE_KINDS: ReadonlySet<string> = new Set(['fire_panel', 'smoke_detector', 'fire_water']);
const KIND_LABELS: Record<string, string> = {
  elevator: '电梯', fire_panel: '火灾报警控制器', smoke_detector: '烟感', fire_water: '消防水', water_pump: '二次供水', drainage: '排水',
};

export class RectificationOrders implements OrderSource, OrderMover {
  /** Open (not closed) orders by id: the overdue check and the handover read them synchronously. */
  private readonly openOrders = new Map<number, Readonly<Order>>();
  private readonly queries;
  readonly files: AttachmentFiles;
  /** Deadlines are checked by the timer leader. */
  private readonly due: DueCheck;

  private constructor(private readonly deps: OrdersDeps, private readonly store: Store<OrderTables>) {
    this.queries = orderQueries(store.q);
    this.files = new AttachmentFiles(deps.dataDir);
    this.due = new DueCheck(deps.clock, deps.config.checkEvery, () => this.checkDue());
  }

  static async open(deps: OrdersDeps): Promise<RectificationOrders> {
    const store = deps.db.store<OrderTables>();
    await store.migrate('orders', ORDER_MIGRATIONS);
    await store.prepareIds('orders');
    await store.prepareIds('attachments');
    const orders = new RectificationOrders(deps, store);
    await orders.reload();
    // a commit refused for good (another node changed the same order): memory may be ahead of the store
    deps.db.onRefused(() => { orders.reload().catch((err: unknown) => deps.log.error({ err }, 'orders: reload failed')); });
    return orders;
  }

  private async reload(): Promise<void> {
    const rows = await this.store.all(this.queries.openDocs());
    this.openOrders.clear();
    for (const r of rows) {
      const o = JSON.parse(r.doc) as Order;
      this.openOrders.set(o.id, o);
    }
  }

  // ---- reading ----

  /** The order as stored: from memory while open, else from the store. */
  private async read(id: number): Promise<Readonly<Order> | undefined> {
    const open = this.openOrders.get(id);
    if (open) return open;
    const row = await this.store.get(this.queries.doc(id));
    return row ? JSON.parse(row.doc) as Order : undefined;
  }

  /** The order if the principal may see it; one outside its scope answers exactly like one that does not exist. */
  async visible(p: Principal, id: number): Promise<Readonly<Order>> {
    const o = await this.read(id);
    if (!o || !canSeeOrder(p, o)) throw new OrderError('ORDER_NOT_FOUND', `整改通知 ${id} 不存在 / order ${id} not found`);
    return o;
  }

  async detail(p: Principal, id: number): Promise<OrderDetail> {
    const o = await this.visible(p, id);
    const rows = await this.store.all(this.queries.history(id));
    const history = rows.map((r): HistoryEntry => {
      const d = r.detail ? JSON.parse(r.detail) as { party: string; attachments?: AttachmentRef[]; detail?: Record<string, unknown> } : undefined;
      return {
        seq: r.seq, at: r.at, actor: r.actor, party: d?.party ?? '', action: r.action as HistoryEntry['action'], note: r.note,
        attachments: d?.attachments ?? [], detail: d?.detail ?? null,
      };
    });
    return { ...o, history };
  }

  async list(p: Principal, f: ListFilter): Promise<Order[]> {
    const rows = await this.store.all(this.queries.list(f, p));
    return rows.map((r) => JSON.parse(r.doc) as Order);
  }

  async inPeriod(f: { from: number; to: number; targetType?: OrderTargetType | undefined; targetId?: string | undefined }): Promise<OrderFact[]> {
    const now = this.deps.clock.now();
    const rows = await this.store.all(this.queries.inPeriod(f));
    return rows.map((r) => {
      const o = JSON.parse(r.doc) as Order;
      return {
        id: o.id, targetType: o.targetType, targetId: o.targetId, siteId: o.siteId, issuedAt: o.issuedAt, dueAt: o.dueAt, state: o.state,
        closedAt: o.closedAt,
        // the timer may not have run yet: an order still waiting for its target past the deadline is overdue all the same
        overdue: o.overdue || (this.waitsForTarget(o.state) && o.dueAt <= now),
      };
    });
  }

  // ---- issuing ----

  async issue(p: Principal, req: IssueRequest): Promise<Readonly<Order>> {
    try {
      return await this.issueChecked(p, req);
    } catch (err) {
      this.refused(p, 'issue', 'order:new', err);
      throw err;
    }
  }

  private async issueChecked(p: Principal, req: IssueRequest): Promise<Readonly<Order>> {
    const { registry, clock, timeZone } = this.deps;
    const issuer = partyOf(p);
    if (!ISSUER_ROLES.has(p.role) || issuer === undefined) {
      throw new OrderError('ORDER_FORBIDDEN', '只有市场监管、消防救援、街道、社区或管理员可以下发整改通知 / only market supervision, the fire service, a street, a community or an admin may issue rectification orders');
    }
    const dueAt = parseDue(req.dueAt, timeZone);
    if (dueAt === undefined) throw invalid('dueAt', `整改期限 ${req.dueAt} 不是有效日期`, `${req.dueAt} is not a date`);
    if (p.role === 'fire-service' && req.targetType === 'maintenance-unit') {
      throw new OrderError('ORDER_TARGET_FORBIDDEN', '消防救援机构只向物业服务企业下发整改通知，电梯维保单位由市场监管部门监管 / the fire service issues orders to property companies only: maintenance units are supervised by market supervision',
        [{ path: 'targetType', message: 'the fire service may not issue orders to maintenance units' }]);
    }

    // what the order names: each must exist within the issuer's scope (404 alike), then belong to the target (400)
    const targetName = this.targetInScope(p, req.targetType, req.targetId);
    if (targetName === undefined) {
      throw unknownReference('targetId', req.targetType === 'company' ? { zh: '物业服务企业', en: 'company' } : { zh: '维保单位', en: 'maintenance unit' }, req.targetId);
    }
    let site: Site | undefined;
    if (req.siteId !== undefined) {
      site = registry.getSite(req.siteId);
      if (!site || !this.siteInScope(p, site)) throw unknownReference('siteId', { zh: '小区', en: 'site' }, req.siteId);
    }
    let device: Device | undefined;
    if (req.deviceId !== undefined) {
      device = registry.getDevice(req.deviceId);
      if (!device || !canSeeDevice(p, device)) throw unknownReference('deviceId', { zh: '设备', en: 'device' }, req.deviceId);
    }
    let alert: Readonly<Alert> | undefined;
    if (req.alertId !== undefined) {
      try {
        alert = await this.deps.alerts.visible(p, req.alertId);
      } catch (err) {
        if (err instanceof CodedHttpError && err.statusCode === 404) throw unknownReference('alertId', { zh: '告警', en: 'alert' }, req.alertId);
        throw err;
      }
    }
    const now = clock.now();
    if (dueAt <= now) throw invalid('dueAt', '整改期限必须晚于现在', 'the deadline must be in the future');

    const target = { type: req.targetType, id: req.targetId };
    if (site && !this.siteOfTarget(site, target)) {
      throw invalid('siteId', `小区 ${site.name} 不属于该整改对象`, `site ${site.id} is not run or maintained by ${req.targetType} ${req.targetId}`);
    }
    if (device && (!this.deviceOfTarget(device, target) || (site && device.siteId !== site.id))) {
      throw invalid('deviceId', `设备 ${device.id} 不属于该整改对象或小区`, `device ${device.id} does not belong to ${req.targetType} ${req.targetId}${site ? ` at site ${site.id}` : ''}`);
    }
    if (alert) {
      const ofTarget = target.type === 'company' ? alert.companyId === target.id : alert.maintenanceUnitId === target.id;
      const siteId = site?.id ?? device?.siteId;
      if (!ofTarget || (siteId !== undefined && alert.siteId !== siteId) || (device && alert.deviceId !== device.id)) {
        throw invalid('alertId', `告警 ${alert.id} 不属于该整改对象、小区或设备`, `alert ${alert.id} does not belong to ${req.targetType} ${req.targetId}${siteId ? ` at site ${siteId}` : ''}${device ? ` on device ${device.id}` : ''}`);
      }
    }
    // a device or an alert tells the site (and an alert its device) when the issuer did not
    site ??= device ? registry.getSite(device.siteId) : alert ? registry.getSite(alert.siteId) : undefined;
    if (site && !this.siteInScope(p, site)) throw unknownReference('siteId', { zh: '小区', en: 'site' }, site.id);
    const deviceId = device?.id ?? alert?.deviceId ?? null;
    device ??= deviceId ? registry.getDevice(deviceId) : undefined;

    const id = this.store.nextId('orders');
    const area = this.areaOf(issuer, site);
    const order: Order = {
      id, targetType: req.targetType, targetId: req.targetId, targetName,
      siteId: site?.id ?? null, siteName: site?.name ?? alert?.siteName ?? null,
      deviceId, deviceLabel: device ? deviceLabel(device) : null, alertId: alert?.id ?? null,
      domain: domainOf(req.targetType, device, alert, p.role),
      street: area.street, community: area.community,
      title: req.title, description: req.description, issuedAt: now, dueAt, issuedBy: p.id, issuer, supervising: issuer,
      state: 'issued', overdue: false, overdueAt: null, escalatedTo: [], repliedAt: null, closedAt: null, parties: [issuer],
      updatedAt: now, historyLength: 0, version: 1,
    };
    return this.store.transaction(() => {
      const stored = this.addHistory(order, { at: now, actor: p.id, party: partyLabel(issuer), action: 'issued', note: null, attachments: [], detail: null });
      this.store.write(this.queries.insert({ id, ...this.columns(stored), issued_at: now, doc: JSON.stringify(stored) }));
      this.store.write(this.queries.addParty(id, issuer));
      this.deps.audit.record(p.id, 'order.issue', `order:${id}`, { targetType: order.targetType, targetId: order.targetId, siteId: order.siteId, dueAt });
      this.changed(stored);
      return stored;
    });
  }

  /**
   * The companies and units the caller may issue orders to, with the sites of each it may name,
   * by name: what the console's issue form offers (agencies cannot list companies otherwise).
   */
  issuable(p: Principal): Array<{ targetType: OrderTargetType; targetId: string; name: string; sites: Array<{ id: string; name: string }> }> {
    if (!ISSUER_ROLES.has(p.role) || partyOf(p) === undefined) return [];
    const { registry } = this.deps;
    const devices = registry.listDevices();
    // one pass over the devices and sites, not one per target: a city has thousands of each
    const agency = p.role === 'market-supervision' || p.role === 'fire-service';
    const supervised = agency ? new Set(devices.filter((d) => canSeeDevice(p, d)).map((d) => d.siteId)) : undefined;
    const sites = registry.listSites().filter((s) => (supervised ? supervised.has(s.id) : canSeeSite(p, s)));
    const siteIds = new Set(sites.map((s) => s.id));
    const area = p.role === 'street' || p.role === 'community';
    const unitSites = new Map<string, Set<string>>();
    for (const d of devices) {
      if (d.kind !== 'elevator' || !d.maintenanceUnitId) continue;
      const inArea = (p.role === 'street' ? d.street : d.community) === p.scope;
      if (area && !inArea) continue;
      let set = unitSites.get(d.maintenanceUnitId);
      if (!set) unitSites.set(d.maintenanceUnitId, (set = new Set()));
      if (siteIds.has(d.siteId)) set.add(d.siteId);
    }
    const named = (ids: ReadonlySet<string>) => sites.filter((s) => ids.has(s.id)).map((s) => ({ id: s.id, name: s.name }));
    const out: ReturnType<RectificationOrders['issuable']> = [];
    if (p.role !== 'fire-service') {
      for (const u of registry.listMaintenanceUnits()) {
        if (area && !unitSites.has(u.id)) continue;
        out.push({ targetType: 'maintenance-unit', targetId: u.id, name: u.name, sites: named(unitSites.get(u.id) ?? new Set()) });
      }
    }
    for (const c of registry.listCompanies()) {
      const own = sites.filter((s) => s.companyId === c.id);
      if (area && own.length === 0) continue;
      out.push({ targetType: 'company', targetId: c.id, name: c.name, sites: own.map((s) => ({ id: s.id, name: s.name })) });
    }
    return out.sort((a, b) => a.targetType.localeCompare(b.targetType) || a.name.localeCompare(b.name, 'zh-CN'));
  }

  /** The target's name if the issuer may name it; undefined when it does not exist or lies outside the issuer's scope. */
  private targetInScope(p: Principal, type: OrderTargetType, id: string): string | undefined {
    const { registry } = this.deps;
    const entry = type === 'company' ? registry.getCompany(id) : registry.getMaintenanceUnit(id);
    if (!entry) return undefined;
    if (p.role === 'street' || p.role === 'community') {
      const inArea = (d: Pick<Device, 'street' | 'community'>) => (p.role === 'street' ? d.street : d.community) === p.scope;
      const ok = type === 'company'
        ? registry.listSites().some((s) => s.companyId === id && inArea(s))
        : registry.listDevices().some((d) => d.kind === 'elevator' && d.maintenanceUnitId === id && inArea(d));
      if (!ok) return undefined;
    }
    return entry.name;
  }

  /**
   * A site the issuer may name: an area's own sites; for the authorities, a site with equipment
   * they supervise (an elevator, fire equipment); every site for an admin.
   */
  private siteInScope(p: Principal, site: Site): boolean {
    if (p.role === 'market-supervision' || p.role === 'fire-service') {
      return this.deps.registry.listDevices().some((d) => d.siteId === site.id && canSeeDevice(p, d));
    }
    return canSeeSite(p, site);
  }

  private siteOfTarget(site: Site, target: { type: OrderTargetType; id: string }): boolean {
    if (target.type === 'company') return site.companyId === target.id;
    return this.deps.registry.listDevices().some((d) => d.siteId === site.id && d.maintenanceUnitId === target.id);
  }

  private deviceOfTarget(device: Device, target: { type: OrderTargetType; id: string }): boolean {
    return target.type === 'company' ? device.companyId === target.id : device.maintenanceUnitId === target.id;
  }

  /**
   * The street and community an order lies in: its site's; without a site, the issuing area's own
   * (a community's street when all its sites share one), so that the area and the path up see it.
   */
  private areaOf(issuer: string, site: Site | undefined): { street: string | null; community: string | null } {
    if (site) return { street: site.street ?? null, community: site.community ?? null };
    if (issuer.startsWith('street:')) return { street: issuer.slice(7), community: null };
    if (issuer.startsWith('community:')) {
      const community = issuer.slice(10);
      const streets = new Set(this.deps.registry.listSites().filter((s) => s.community === community && s.street).map((s) => s.street!));
      return { street: streets.size === 1 ? [...streets][0]! : null, community };
    }
    return { street: null, community: null };
  }

  // ---- acting ----

  /**
   * reply (the target), return / close / refer (the supervising party): scope (404), then who may
   * (403), then the state (409). Refusals for who or the state are audited; a 404 is not, as it is
   * what any id outside the scope answers.
   */
  async act(p: Principal, id: number, action: OrderAction, input: { note?: string | undefined; attachments?: number[] | undefined; to?: string | undefined }): Promise<Readonly<Order>> {
    const seen = await this.visible(p, id);
    try {
      this.mayAct(p, seen, action);
      const files = action === 'reply' && input.attachments && input.attachments.length > 0 ? await this.usableAttachments(p, input.attachments) : [];
      if (action === 'refer') this.checkReferral(seen, input.to!);
      // nothing awaits from here to the end of the change: the order checked is the order changed
      const current = this.openOrders.get(id) ?? seen;
      this.mayAct(p, current, action);
      const now = this.deps.clock.now();
      return this.store.transaction(() => {
        // a reply past the deadline the timer has not marked yet: the order first becomes overdue, then is replied
        const base = action === 'reply' && this.isDue(current, now) ? this.markOverdue(current, now) : current;
        return this.apply(p, base, action, input, files, now);
      });
    } catch (err) {
      if (err instanceof StoreConflictError) {
        const e = new OrderError('ORDER_INVALID_TRANSITION', '该整改通知刚被他人更改，请刷新后重试 / the order was changed meanwhile: reload it and try again');
        this.refused(p, action, `order:${id}`, e, seen.state);
        throw e;
      }
      this.refused(p, action, `order:${id}`, err, seen.state);
      throw err;
    }
  }

  private mayAct(p: Principal, o: Readonly<Order>, action: OrderAction): void {
    if (action === 'reply') {
      if (!isTarget(p, o)) throw new OrderError('ORDER_FORBIDDEN', `只有整改对象（${o.targetName}）可以回复 / only the target (${o.targetName}) may reply to an order`);
    } else if (partyOf(p) !== o.supervising) {
      const verb = { return: ['退回', 'return'], close: ['销号', 'close'], refer: ['移交', 'refer'] }[action];
      throw new OrderError('ORDER_FORBIDDEN', `只有监管方（${partyLabel(o.supervising)}）可以${verb[0]} / only the supervising party (${partyLabel(o.supervising)}) may ${verb[1]} this order`);
    }
    if (action === 'refer') {
      if (o.state === 'closed') throw transitionError(o, action, '已销号的整改通知不能移交', 'a closed order cannot be referred');
      return;
    }
    const rule = TRANSITIONS[action];
    if (!rule.from.includes(o.state)) {
      const zh = { reply: '回复只能在已下发、复查不合格或逾期状态下进行', return: '只能退回已回复的整改通知', close: '只能对已回复的整改通知销号' }[action];
      throw transitionError(o, action, zh, `${action} needs the order ${rule.from.join(' or ')}; it is ${o.state}`);
    }
  }

  /** A referral goes to another department that exists: an authority, or a street / community with sites. */
  private checkReferral(o: Readonly<Order>, to: string): void {
    if (to === o.supervising) throw invalid('to', `整改通知已由${partyLabel(to)}监管`, `${to} already supervises this order`);
    const [kind, name] = to.split(':') as [string, string | undefined];
    if (name !== undefined && !this.deps.registry.listSites().some((s) => (kind === 'street' ? s.street : s.community) === name)) {
      throw invalid('to', `没有小区位于${partyLabel(to)}`, `no site lies in ${kind} ${name}`);
    }
  }

  /** The attachments a reply names: uploaded by the replier's own party and not used by another reply (400 otherwise). */
  private async usableAttachments(p: Principal, ids: readonly number[]): Promise<AttachmentRow[]> {
    const unique = [...new Set(ids)];
    const rows = await this.store.all(this.queries.attachments(unique));
    const party = uploaderOf(p);
    return unique.map((id) => {
      const row = rows.find((r) => r.id === id);
      if (!row || row.party !== party || row.order_id !== null) {
        throw invalid(`attachments.${ids.indexOf(id)}`, `附件 ${id} 不可用（须为本单位上传且未被使用）`, `attachment ${id} is not available: attach files your own party uploaded and no reply used yet`);
      }
      return row;
    });
  }

  private apply(p: Principal, o: Readonly<Order>, action: OrderAction, input: { note?: string | undefined; to?: string | undefined }, files: readonly AttachmentRow[], now: number): Readonly<Order> {
    const next: Order = { ...o, parties: [...o.parties], updatedAt: now };
    let detail: Record<string, unknown> | null = null;
    if (action !== 'refer') {
      next.state = TRANSITIONS[action].to;
      if (action === 'reply') next.repliedAt = now;
      if (action === 'close') next.closedAt = now;
    } else {
      const to = input.to!;
      detail = { from: o.supervising, fromLabel: partyLabel(o.supervising), to, toLabel: partyLabel(to) };
      next.supervising = to;
      if (!next.parties.includes(to)) next.parties.push(to);
      this.store.write(this.queries.addParty(o.id, to));
    }
    const attachments = files.map((f): AttachmentRef => ({ id: f.id, name: f.name, type: f.type, size: f.size }));
    for (const f of files) {
      this.store.write(this.queries.useAttachment(f.id, o.id), ({ changes }) => {
        if (changes !== 1) throw new StoreConflictError(`attachment ${f.id} was used by another reply`);
      });
    }
    const who = action === 'reply' ? `${o.targetName}` : partyLabel(o.supervising);
    const stored = this.addHistory(next, { at: now, actor: p.id, party: who, action: PAST[action], note: input.note ?? null, attachments, detail });
    this.write(o, stored);
    this.deps.audit.record(p.id, `order.${action}`, `order:${o.id}`, { from: o.state, to: stored.state, ...(detail ?? {}), ...(attachments.length > 0 ? { attachments: attachments.map((a) => a.id) } : {}) });
    this.changed(stored);
    return stored;
  }

  // ---- deadlines ----

  private waitsForTarget(state: OrderState): boolean {
    return state === 'issued' || state === 'returned';
  }

  /** The target still has to act and the deadline has come (at dueAt exactly, not a millisecond before). */
  private isDue(o: Readonly<Order>, now: number): boolean {
    return this.waitsForTarget(o.state) && o.dueAt <= now;
  }

  /**
   * Marks the order overdue and, the first time, escalates it: a community's order to the street
   * of its site, a street's to the city (admin) and the authority that fits it (elevators: market
   * supervision; fire: the fire service), an authority's to the city. Those parties can read it from then on.
   */
  private markOverdue(o: Readonly<Order>, now: number): Readonly<Order> {
    const escalatedTo = o.overdue ? [] : this.escalationOf(o).filter((party) => party !== o.supervising && !o.escalatedTo.includes(party));
    const next: Order = {
      ...o, state: 'overdue', overdue: true, overdueAt: o.overdueAt ?? o.dueAt, updatedAt: now,
      escalatedTo: [...o.escalatedTo, ...escalatedTo], parties: [...new Set([...o.parties, ...escalatedTo])],
    };
    for (const party of escalatedTo) this.store.write(this.queries.addParty(o.id, party));
    const detail = escalatedTo.length > 0 ? { escalatedTo, escalatedToLabels: escalatedTo.map(partyLabel) } : null;
    const stored = this.addHistory(next, { at: o.dueAt, actor: SYSTEM_ACTOR, party: '系统 / system', action: 'overdue', note: null, attachments: [], detail });
    this.write(o, stored);
    this.deps.audit.record(SYSTEM_ACTOR, 'order.overdue', `order:${o.id}`, { dueAt: o.dueAt, from: o.state, escalatedTo });
    this.changed(stored);
    return stored;
  }

  private escalationOf(o: Readonly<Order>): string[] {
    const fitting = o.domain === 'elevator' ? ['market-supervision'] : o.domain === 'fire' ? ['fire-service'] : [];
    const sup = o.supervising;
    if (sup.startsWith('community:')) return o.street ? [`street:${o.street}`] : ['admin', ...fitting];
    if (sup.startsWith('street:')) return ['admin', ...fitting];
    if (sup === 'market-supervision' || sup === 'fire-service') return ['admin'];
    // the city is the top of the path
    return [];
  }

  /** Marks every open order whose deadline has come (the timer leader only). */
  checkDue(): void {
    if (!this.due.leading || !this.store.open) return;
    const now = this.deps.clock.now();
    for (const o of [...this.openOrders.values()]) {
      if (!this.isDue(o, now)) continue;
      try {
        this.store.transaction(() => this.markOverdue(o, now));
      } catch (err) {
        this.deps.log.error({ err, orderId: o.id }, 'order could not be marked overdue');
      }
    }
  }

  // ---- handover ----

  /**
   * Inside the handover's unit of work: the site's open orders to `fromCompanyId` go to
   * `toCompanyId`, each with a history entry; closed ones stay with the company that was
   * responsible then. Returns how many moved.
   */
  reassignSite(siteId: string, fromCompanyId: string, toCompanyId: string, at: number, actor: string): number {
    const { registry } = this.deps;
    const fromName = registry.getCompany(fromCompanyId)?.name ?? fromCompanyId;
    const toName = registry.getCompany(toCompanyId)?.name ?? toCompanyId;
    let moved = 0;
    for (const o of [...this.openOrders.values()]) {
      if (o.siteId !== siteId || o.targetType !== 'company' || o.targetId !== fromCompanyId) continue;
      const next: Order = { ...o, targetId: toCompanyId, targetName: toName, updatedAt: at };
      const detail = { fromCompanyId, fromCompanyName: fromName, toCompanyId, toCompanyName: toName };
      const stored = this.addHistory(next, { at, actor, party: '物业交接 / site handover', action: 'reassigned', note: null, attachments: [], detail });
      this.write(o, stored);
      this.deps.audit.record(actor, 'order.reassign', `order:${o.id}`, { siteId, ...detail });
      this.changed(stored);
      moved++;
    }
    return moved;
  }

  // ---- writing ----

  private columns(o: Readonly<Order>): Omit<OrderTables['orders'], 'id' | 'issued_at' | 'doc'> {
    return {
      target_type: o.targetType, target_id: o.targetId, site_id: o.siteId, device_id: o.deviceId, alert_id: o.alertId, state: o.state,
      overdue: o.overdue ? 1 : 0, due_at: o.dueAt, closed_at: o.closedAt, supervising: o.supervising, street: o.street, community: o.community,
      updated_at: o.updatedAt, version: o.version,
    };
  }

  /** Appends a history entry; returns the order with its history length counted. */
  private addHistory(o: Order, e: Omit<HistoryEntry, 'seq'>): Order {
    const seq = o.historyLength + 1;
    this.store.write(this.queries.addHistory({
      order_id: o.id, seq, at: e.at, actor: e.actor, action: e.action, note: e.note,
      detail: JSON.stringify({ party: e.party, ...(e.attachments.length > 0 ? { attachments: e.attachments } : {}), ...(e.detail ? { detail: e.detail } : {}) }),
    }));
    return { ...o, historyLength: seq };
  }

  /** Writes `next` over the version `before` had; another node's change in between refuses the commit. */
  private write(before: Readonly<Order>, next: Order): void {
    next.version = before.version + 1;
    this.store.write(this.queries.update(before.id, before.version, { ...this.columns(next), doc: JSON.stringify(next) }), ({ changes }) => {
      if (changes !== 1) throw new StoreConflictError(`order ${before.id} was changed by another node`);
    });
  }

  /** Memory takes the change (the last step of each unit of work), and the other nodes hear of it when it commits. */
  private changed(o: Readonly<Order>): void {
    if (o.state === 'closed') this.openOrders.delete(o.id);
    else this.openOrders.set(o.id, o);
    this.store.notify('supervision', [`order:${o.id}`]);
  }

  /** A refused action in the audit log, with its code (not a 404: any id outside a scope answers so). */
  private refused(p: Principal, action: string, target: string, err: unknown, state?: OrderState): void {
    if (!(err instanceof CodedHttpError) || err.statusCode === 404) return;
    this.deps.audit.record(p.id, `order.${action}.refused`, target, { code: err.code, ...(state ? { state } : {}) });
  }

  // ---- attachments ----

  /** Stores an uploaded file for the uploader's party (the route checked its size and type). */
  async upload(p: Principal, body: Buffer, type: AttachmentType, name: string): Promise<AttachmentRef> {
    const party = uploaderOf(p);
    if (party === undefined) throw new OrderError('ORDER_FORBIDDEN', '该账号不能上传附件 / this account may not upload attachments');
    const unused = await this.store.get(this.queries.unusedCount(party));
    if (Number(unused?.n ?? 0) >= MAX_UNUSED_PER_PARTY) {
      throw new OrderError('ATTACHMENT_QUOTA', `已有 ${MAX_UNUSED_PER_PARTY} 个未使用的附件，请先在回复中使用 / your party holds ${MAX_UNUSED_PER_PARTY} unused attachments: use them in a reply first`);
    }
    const { storedName, sha256 } = await this.files.write(body);
    const id = this.store.nextId('attachments');
    try {
      this.store.write(this.queries.insertAttachment({
        id, stored_name: storedName, name, type, size: body.length, sha256, uploaded_by: p.id, party, uploaded_at: this.deps.clock.now(), order_id: null,
      }));
      this.deps.audit.record(p.id, 'attachment.upload', `attachment:${id}`, { name, type, size: body.length, sha256 });
      await this.store.durable();
    } catch (err) {
      await this.files.remove(storedName);
      throw err;
    }
    return { id, name, type, size: body.length };
  }

  /** An attachment for its uploader's party, or for whoever can see the order a reply used it in. */
  async attachment(p: Principal, id: number): Promise<{ row: AttachmentRow; path: string }> {
    const row = await this.store.get(this.queries.attachment(id));
    const notFound = () => new OrderError('ATTACHMENT_NOT_FOUND', `附件 ${id} 不存在 / attachment ${id} not found`);
    if (!row) throw notFound();
    let ok = row.party === uploaderOf(p);
    if (!ok && row.order_id !== null) {
      const o = await this.read(row.order_id);
      ok = o !== undefined && canSeeOrder(p, o);
    }
    if (!ok) throw notFound();
    return { row, path: this.files.path(row.stored_name) };
  }

  /** Records a refused upload (size or type), which never reaches `upload`. */
  uploadRefused(p: Principal, err: CodedHttpError): void {
    this.deps.audit.record(p.id, 'attachment.upload.refused', 'attachment:new', { code: err.code });
  }

  // ---- wiring ----

  /** /api/v1 routes. */
  readonly routes: FastifyPluginAsync = ordersRoutes(this, () => ({ config: this.deps.config, timeZone: this.deps.timeZone, now: () => this.deps.clock.now() }));

  /** Cluster mode: only the timer leader marks orders overdue and escalates them. */
  setLeading(leading: boolean): void { this.due.setLeading(leading); }
  start(): void { this.due.start(); }
  stop(): void { this.due.stop(); }

  /** Another node's committed change (ids `order:{id}`): the mirror of open orders reads them again. */
  async onNotice(ids: readonly string[]): Promise<void> {
    const wanted = ids.map((k) => Number(k.slice('order:'.length))).filter(Number.isSafeInteger);
    if (wanted.length === 0) return;
    for (const r of await this.store.all(this.queries.docs(wanted))) {
      const o = JSON.parse(r.doc) as Order;
      const mine = this.openOrders.get(o.id);
      if (mine && mine.version > o.version) continue;
      if (o.state === 'closed') this.openOrders.delete(o.id);
      else this.openOrders.set(o.id, o);
    }
  }
}

const PAST = { reply: 'replied', return: 'returned', close: 'closed', refer: 'referred' } as const;

function transitionError(o: Readonly<Order>, action: OrderAction, zh: string, en: string): OrderError {
  return new OrderError('ORDER_INVALID_TRANSITION', `${zh}（当前：${o.state}） / ${en}`, { state: o.state, action });
}

function deviceLabel(d: Device): string {
  return [KIND_LABELS[d.kind] ?? d.kind, d.location ?? d.building ?? d.registrationCode ?? d.id].join(' ');
}

/** Which authority fits an order when it goes up: elevators are market supervision's, fire equipment the fire service's. */
function domainOf(targetType: OrderTargetType, device: Device | undefined, alert: Readonly<Alert> | undefined, issuerRole: string): Order['domain'] {
  if (targetType === 'maintenance-unit' || device?.kind === 'elevator' || alert?.domain === 'elevator') return 'elevator';
  if ((device && FIRE_KINDS.has(device.kind)) || alert?.domain === 'fire') return 'fire';
  if (issuerRole === 'market-supervision') return 'elevator';
  if (issuerRole === 'fire-service') return 'fire';
  return null;
}
