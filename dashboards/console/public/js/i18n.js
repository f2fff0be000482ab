// Every label of the console in Chinese (the default) and English. Alert type labels come from the
// server (alert.label / the responsibility list), so an installation's own types are labelled too.

const zh = {
  'app.title': '社区物联网监测 · 值班台',
  'app.short': '值班台',
  'nav.alerts': '告警',
  'nav.devices': '设备',
  'nav.overview': '概览',
  'lang.switch': 'EN',
  'lang.switchLabel': 'Switch to English',
  'signIn.title': '登录值班台',
  'signIn.hint': '请输入账号令牌（由管理员通过 POST /api/v1/accounts 签发）。令牌只保存在本浏览器标签页中，关闭标签页即失效。',
  'signIn.token': '账号令牌',
  'signIn.submit': '登录',
  'signIn.bad': '令牌无效或账号已停用。',
  'signIn.failed': '无法连接网关：{msg}',
  'signOut': '退出登录',
  'live.connecting': '连接中',
  'live.live': '实时',
  'live.reconnecting': '重新连接中',
  'role.admin': '管理员',
  'role.property': '物业',
  'role.maintenance': '维保单位',
  'role.market-supervision': '市场监督管理局',
  'role.fire-service': '消防救援',
  'filter.label': '状态',
  'filter.active': '未关闭',
  'filter.all': '全部',
  'alerts.title': '告警',
  'alerts.empty': '当前没有告警。',
  'alerts.emptyFilter': '没有符合条件的告警。',
  'alerts.count': '共 {n} 条',
  'alerts.new': '新',
  'alerts.select': '选择一条告警查看详情。',
  'alerts.back': '返回列表',
  'alerts.loading': '加载中…',
  'alerts.loadFailed': '加载失败：{msg}',
  'state.open': '待处理',
  'state.acknowledged': '已确认',
  'state.dispatched': '已派单',
  'state.resolved': '已处置',
  'state.closed': '已销号',
  'state.cleared': '已自动恢复',
  'severity.critical': '紧急',
  'severity.major': '严重',
  'severity.minor': '一般',
  'severity.warning': '提示',
  'action.acknowledge': '确认',
  'action.dispatch': '派单',
  'action.resolve': '处置完成',
  'action.close': '销号',
  'action.confirm': '核实为火警',
  'action.dismiss': '核实为误报',
  'action.note': '备注',
  'action.notePlaceholder': '处置说明（记入台账）',
  'action.done': '已{action}。',
  'action.refused': '操作未执行：{msg}',
  'action.failed': '操作失败：{msg}',
  'action.notAllowed': '当前状态为「{state}」，「{action}」只能在「{allowed}」状态下进行。',
  'action.or': '或',
  'history.raised': '告警产生',
  'history.repeated': '重复发生',
  'history.condition_ended': '条件已结束',
  'history.auto_cleared': '自动恢复',
  'history.acknowledged': '已确认',
  'history.dispatched': '已派单',
  'history.resolved': '已处置',
  'history.closed': '已销号',
  'history.dismissed': '已核实为误报',
  'history.confirmed': '已核实为火警',
  'history.forwarded': '超时未核实，已转消防',
  'history.escalated': '超时升级',
  'history.system': '系统',
  'escalation.acknowledge_overdue': '确认超时',
  'escalation.resolve_overdue': '处置超时',
  'detail.device': '设备',
  'detail.site': '小区',
  'detail.location': '位置',
  'detail.unit': '维保单位',
  'detail.openedAt': '发生时间',
  'detail.updatedAt': '更新时间',
  'detail.count': '发生次数',
  'detail.ackBy': '确认期限',
  'detail.resolveBy': '处置期限',
  'detail.verifyBy': '核实期限',
  'detail.confirmation': '火警核实',
  'detail.condition': '当前状况',
  'detail.conditionActive': '仍在持续',
  'detail.conditionEnded': '已结束',
  'detail.suppressed': '检修/维保模式下发生（未上报主管部门）',
  'detail.queues': '推送队列',
  'detail.escalations': '升级记录',
  'detail.details': '详情',
  'detail.history': '处置记录',
  'detail.actions': '处置',
  'detail.id': '编号',
  'confirmation.unconfirmed': '未核实',
  'confirmation.confirmed': '已核实',
  'deadline.none': '—',
  'deadline.left': '剩余 {d}',
  'deadline.overdue': '超时 {d}',
  'deadline.met': '已按时完成',
  'deadline.metLate': '已完成（超时）',
  'deadline.ack': '确认',
  'deadline.resolve': '处置',
  'time.justNow': '刚刚',
  'time.minutesAgo': '{n} 分钟前',
  'time.hoursAgo': '{n} 小时前',
  'time.daysAgo': '{n} 天前',
  'time.days': '{n}天',
  'devices.title': '设备',
  'devices.kind': '类型',
  'devices.allKinds': '全部类型',
  'devices.device': '设备',
  'devices.site': '小区',
  'devices.state': '状态',
  'devices.lastSeen': '最后上报',
  'devices.latest': '最新读数',
  'devices.online': '在线',
  'devices.offline': '离线',
  'devices.disabled': '已停用',
  'devices.never': '从未上报',
  'devices.building': '{b} 号楼',
  'devices.empty': '没有设备。',
  'devices.summary': '在线 {online} / 共 {total}',
  'kind.elevator': '电梯',
  'kind.fire_panel': '火灾报警控制器',
  'kind.smoke_detector': '独立式烟感',
  'kind.fire_water': '消防水系统',
  'kind.water_pump': '二次供水泵房',
  'overview.title': '概览',
  'overview.byState': '按状态',
  'overview.byType': '按类型',
  'overview.type': '告警类型',
  'overview.severity': '级别',
  'overview.active': '未关闭',
  'overview.total': '累计',
  'overview.devices': '设备在线',
  'overview.empty': '还没有告警记录。',
  'value.true': '是',
  'value.false': '否',
  'error.unauthorized': '登录已失效，请重新登录。',
};

const en = {
  'app.title': 'Community IoT monitoring · Operator console',
  'app.short': 'Console',
  'nav.alerts': 'Alerts',
  'nav.devices': 'Devices',
  'nav.overview': 'Overview',
  'lang.switch': '中文',
  'lang.switchLabel': '切换到中文',
  'signIn.title': 'Sign in to the console',
  'signIn.hint': 'Enter your account token (issued by an admin through POST /api/v1/accounts). It is kept in this browser tab only and is gone when the tab closes.',
  'signIn.token': 'Account token',
  'signIn.submit': 'Sign in',
  'signIn.bad': 'The token is not valid, or the account is disabled.',
  'signIn.failed': 'Cannot reach the gateway: {msg}',
  'signOut': 'Sign out',
  'live.connecting': 'Connecting',
  'live.live': 'Live',
  'live.reconnecting': 'Reconnecting',
  'role.admin': 'Admin',
  'role.property': 'Property company',
  'role.maintenance': 'Maintenance unit',
  'role.market-supervision': 'Market supervision',
  'role.fire-service': 'Fire service',
  'filter.label': 'State',
  'filter.active': 'Not closed',
  'filter.all': 'All',
  'alerts.title': 'Alerts',
  'alerts.empty': 'No alerts right now.',
  'alerts.emptyFilter': 'No alerts match.',
  'alerts.count': '{n} in total',
  'alerts.new': 'new',
  'alerts.select': 'Select an alert to see its details.',
  'alerts.back': 'Back to the list',
  'alerts.loading': 'Loading…',
  'alerts.loadFailed': 'Could not load: {msg}',
  'state.open': 'Open',
  'state.acknowledged': 'Acknowledged',
  'state.dispatched': 'Dispatched',
  'state.resolved': 'Resolved',
  'state.closed': 'Closed',
  'state.cleared': 'Cleared itself',
  'severity.critical': 'Critical',
  'severity.major': 'Major',
  'severity.minor': 'Minor',
  'severity.warning': 'Warning',
  'action.acknowledge': 'Acknowledge',
  'action.dispatch': 'Dispatch',
  'action.resolve': 'Resolve',
  'action.close': 'Close',
  'action.confirm': 'Confirm fire',
  'action.dismiss': 'Dismiss as false alarm',
  'action.note': 'Note',
  'action.notePlaceholder': 'What was done (kept in the ledger)',
  'action.done': '{action}: done.',
  'action.refused': 'Not done: {msg}',
  'action.failed': 'Failed: {msg}',
  'action.notAllowed': 'The alert is {state}: {action} is allowed only when it is {allowed}.',
  'action.or': ' or ',
  'history.raised': 'Raised',
  'history.repeated': 'Repeated',
  'history.condition_ended': 'Condition ended',
  'history.auto_cleared': 'Cleared itself',
  'history.acknowledged': 'Acknowledged',
  'history.dispatched': 'Dispatched',
  'history.resolved': 'Resolved',
  'history.closed': 'Closed',
  'history.dismissed': 'Dismissed as false alarm',
  'history.confirmed': 'Fire confirmed',
  'history.forwarded': 'Not verified in time: forwarded to the fire service',
  'history.escalated': 'Escalated (deadline passed)',
  'history.system': 'system',
  'escalation.acknowledge_overdue': 'not acknowledged in time',
  'escalation.resolve_overdue': 'not resolved in time',
  'detail.device': 'Device',
  'detail.site': 'Site',
  'detail.location': 'Location',
  'detail.unit': 'Maintenance unit',
  'detail.openedAt': 'Opened',
  'detail.updatedAt': 'Updated',
  'detail.count': 'Occurrences',
  'detail.ackBy': 'Acknowledge by',
  'detail.resolveBy': 'Resolve by',
  'detail.verifyBy': 'Verify by',
  'detail.confirmation': 'Fire alarm',
  'detail.condition': 'Condition',
  'detail.conditionActive': 'still present',
  'detail.conditionEnded': 'ended',
  'detail.suppressed': 'Raised in inspection / maintenance mode (not reported to the authorities)',
  'detail.queues': 'Queues',
  'detail.escalations': 'Escalations',
  'detail.details': 'Details',
  'detail.history': 'History',
  'detail.actions': 'Actions',
  'detail.id': 'No.',
  'confirmation.unconfirmed': 'unconfirmed',
  'confirmation.confirmed': 'confirmed',
  'deadline.none': '—',
  'deadline.left': '{d} left',
  'deadline.overdue': 'overdue by {d}',
  'deadline.met': 'met',
  'deadline.metLate': 'done (late)',
  'deadline.ack': 'Ack',
  'deadline.resolve': 'Resolve',
  'time.justNow': 'just now',
  'time.minutesAgo': '{n} min ago',
  'time.hoursAgo': '{n} h ago',
  'time.daysAgo': '{n} d ago',
  'time.days': '{n}d',
  'devices.title': 'Devices',
  'devices.kind': 'Kind',
  'devices.allKinds': 'All kinds',
  'devices.device': 'Device',
  'devices.site': 'Site',
  'devices.state': 'State',
  'devices.lastSeen': 'Last seen',
  'devices.latest': 'Latest readings',
  'devices.online': 'Online',
  'devices.offline': 'Offline',
  'devices.disabled': 'Disabled',
  'devices.never': 'never',
  'devices.building': 'Building {b}',
  'devices.empty': 'No devices.',
  'devices.summary': '{online} of {total} online',
  'kind.elevator': 'Elevator',
  'kind.fire_panel': 'Fire alarm panel',
  'kind.smoke_detector': 'Smoke alarm',
  'kind.fire_water': 'Fire water',
  'kind.water_pump': 'Water pump room',
  'overview.title': 'Overview',
  'overview.byState': 'By state',
  'overview.byType': 'By type',
  'overview.type': 'Alert type',
  'overview.severity': 'Severity',
  'overview.active': 'Not closed',
  'overview.total': 'Total',
  'overview.devices': 'Devices online',
  'overview.empty': 'No alerts recorded yet.',
  'value.true': 'yes',
  'value.false': 'no',
  'error.unauthorized': 'Your session has ended: please sign in again.',
};

/** Reading labels and units per telemetry field (ingest/schemas/kinds.ts). */
const FIELDS = {
  mode: ['模式', 'Mode'], running: ['运行', 'Running'], direction: ['方向', 'Direction'], floor: ['楼层', 'Floor'],
  doorZone: ['平层', 'Levelled'], door: ['门', 'Door'], occupied: ['轿内有人', 'Occupied'], speed: ['速度', 'Speed', 'm/s'],
  safetyCircuit: ['安全回路', 'Safety circuit'], powerOk: ['主电源', 'Main power'], runCount: ['运行次数', 'Runs'], runHours: ['运行时间', 'Run time', 'h'],
  mainPowerOk: ['主电', 'Main power'], backupPowerOk: ['备电', 'Backup power'],
  smoke: ['烟雾', 'Smoke', 'dB/m'], temperature: ['温度', 'Temperature', '°C'], battery: ['电量', 'Battery', '%'],
  pressure: ['管网压力', 'Pressure', 'MPa'], tankLevel: ['水位', 'Tank level', 'm'], pumpRunning: ['水泵运行', 'Pump running'],
  pumpFault: ['水泵故障', 'Pump fault'], pumpPowerOk: ['水泵电源', 'Pump power'], flowSwitch: ['水流指示', 'Flow switch'],
  inletPressure: ['进水压力', 'Inlet pressure', 'MPa'], outletPressure: ['出水压力', 'Outlet pressure', 'MPa'],
  outletPressureLow: ['低区压力', 'Low zone', 'MPa'], outletPressureMid: ['中区压力', 'Mid zone', 'MPa'], outletPressureHigh: ['高区压力', 'High zone', 'MPa'],
  pumpsRunning: ['运行泵数', 'Pumps running'], flooded: ['水淹', 'Flooded'], doorOpen: ['门开', 'Door open'],
  turbidity: ['浑浊度', 'Turbidity', 'NTU'], chlorine: ['余氯', 'Free chlorine', 'mg/L'], ph: ['pH', 'pH'], humidity: ['湿度', 'Humidity', '%'],
  seq: ['序号', 'Seq'],
};

/** Keys the alert rules put in an alert's details (alerts/rules/), besides reading fields. */
const DETAILS = {
  levelled: ['平层', 'Levelled'], since: ['开始于', 'Since'], limit: ['限值', 'Limit'], topFloor: ['最高层', 'Top floor'],
  bottomFloor: ['最低层', 'Bottom floor'], idleSince: ['停用起始', 'Idle since'], nextInspectionDue: ['下次检验日期', 'Next inspection due'],
  lastVisitAt: ['上次维保', 'Last maintenance visit'], lastSeenAt: ['最后上报', 'Last seen'], offlineAfterMs: ['离线判定时长', 'Offline after'],
  threshold: ['阈值', 'Threshold'], fault: ['故障', 'Fault'], code: ['故障代码', 'Fault code'], zone: ['防区', 'Zone'], point: ['点位', 'Point'],
  component: ['部件', 'Component'], confirmedBy: ['核实方式', 'Confirmed by'], dismissed: ['误报', 'Dismissed'], pump: ['水泵', 'Pump'],
  branch: ['支路', 'Branch'], confidence: ['置信度', 'Confidence'], type: ['事件', 'Event'],
  minPressureMpa: ['最低压力', 'Minimum pressure', 'MPa'], minTankLevelM: ['最低水位', 'Minimum level', 'm'],
  minOutletPressureMpa: ['出水压力下限', 'Outlet pressure minimum', 'MPa'], maxOutletPressureMpa: ['出水压力上限', 'Outlet pressure maximum', 'MPa'],
  maxTurbidityNtu: ['浑浊度上限', 'Turbidity limit', 'NTU'], minChlorineMgL: ['余氯下限', 'Free chlorine minimum', 'mg/L'],
  maxChlorineMgL: ['余氯上限', 'Free chlorine maximum', 'mg/L'],
};

/** Enumerated reading values. */
const VALUES = {
  normal: ['正常', 'normal'], inspection: ['检修', 'inspection'], maintenance: ['维保', 'maintenance'], fire_return: ['消防返回', 'fire return'],
  firefighter: ['消防员', 'firefighter'], emergency_power: ['应急电源', 'emergency power'], earthquake: ['地震', 'earthquake'],
  out_of_service: ['停止服务', 'out of service'], unknown: ['未知', 'unknown'], up: ['上行', 'up'], down: ['下行', 'down'], none: ['停止', 'none'],
  open: ['开', 'open'], closed: ['关', 'closed'], opening: ['开门中', 'opening'], closing: ['关门中', 'closing'],
};

const DICTS = { zh, en };
/** For the test that every label exists in both languages. */
export const DICTIONARIES = DICTS;
const STORAGE_KEY = 'console.lang';
let lang = 'zh';
try { if (localStorage.getItem(STORAGE_KEY) === 'en') lang = 'en'; } catch { /* storage may be blocked: Chinese */ }

export const getLang = () => lang;

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  try { localStorage.setItem(STORAGE_KEY, lang); } catch { /* not kept: fine */ }
  applyStatic();
}

/** The label for `key` with `{name}` placeholders filled; the key itself if it has none. */
export function t(key, params) {
  let s = DICTS[lang][key] ?? zh[key] ?? key;
  if (params) for (const [k, v] of Object.entries(params)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** A `{zh, en}` label from the server. */
export const pick = (label, fallback = '') => (label && (label[lang] || label.zh || label.en)) || fallback;

export function fieldLabel(name) {
  const f = FIELDS[name];
  return f ? f[lang === 'en' ? 1 : 0] : name;
}

/** The label of an alert detail: a rule's own key, a reading field, or the key itself. */
export function detailLabel(name) {
  const d = DETAILS[name];
  return d ? d[lang === 'en' ? 1 : 0] : fieldLabel(name);
}

export function formatReading(name, value) {
  if (typeof value === 'boolean') return t(`value.${value}`);
  if (typeof value === 'string') { const v = VALUES[value]; return v ? v[lang === 'en' ? 1 : 0] : value; }
  if (typeof value === 'number') {
    const unit = FIELDS[name]?.[2] ?? DETAILS[name]?.[2];
    const n = Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
    return unit ? `${n} ${unit}` : n;
  }
  return value === null || value === undefined ? '—' : JSON.stringify(value);
}

/** Fills the static labels of the page: `data-i18n` (text), `data-i18n-placeholder`, `data-i18n-aria`. */
export function applyStatic(root = document) {
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  document.title = t('app.title');
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
}
