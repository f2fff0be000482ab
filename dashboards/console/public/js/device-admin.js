// Managing devices from the devices page (admins, and a property company its own): register one
// (its secret is shown once), disable / re-enable it, issue a new secret, and an elevator's QR label.
import { t } from './i18n.js';
import { h } from './dom.js';
import { confirmDialog, field, formDialog, input, localError, openDialog, secretDialog, select, toast, values } from './forms.js';

export const KINDS = ['elevator', 'fire_panel', 'smoke_detector', 'fire_water', 'water_pump', 'drainage'];
const ELEVATOR_FIELDS = ['ratedSpeed', 'topFloor', 'bottomFloor', 'installedAt', 'warrantyUntil'];
const OTHER = '__other';
const enc = encodeURIComponent;

/**
 * The maintenance units to choose from: the registered ones the account may read (an admin: all),
 * and those named on the devices it sees (a property company cannot list units).
 */
function unitOptions(units, devices) {
  const byId = new Map();
  for (const u of units) byId.set(u.id, u.name || u.id);
  for (const d of devices) if (d.maintenanceUnitId && !byId.has(d.maintenanceUnitId)) byId.set(d.maintenanceUnitId, d.maintenanceUnitName || d.maintenanceUnitId);
  return [...byId].sort((a, b) => a[1].localeCompare(b[1], 'zh-CN'));
}

/** ctx: { api, fail, changed, devices() } */
export async function registerDevice(ctx) {
  const [sites, units] = await Promise.allSettled([ctx.api('GET', '/api/v1/sites'), ctx.api('GET', '/api/v1/maintenance-units')]);
  for (const r of [sites, units]) if (r.status === 'rejected' && ctx.fail(r.reason)) return;
  const siteList = sites.status === 'fulfilled' ? sites.value : [];
  const unitList = units.status === 'fulfilled' ? units.value : [];

  const kind = select(KINDS.map((k) => [k, t(`kind.${k}`)]), { placeholder: t('form.choose') });
  const unit = select([...unitOptions(unitList, ctx.devices()), [OTHER, t('devices.unitOther')]], { placeholder: t('devices.unitNone') });
  const elevatorOnly = [
    field('ratedSpeed', 'dev-rated-speed', 'devices.ratedSpeed', input({ type: 'number', step: '0.01', min: '0', inputmode: 'decimal' })),
    field('topFloor', 'dev-top-floor', 'devices.topFloor', input({ type: 'number', step: '1', inputmode: 'numeric' })),
    field('bottomFloor', 'dev-bottom-floor', 'devices.bottomFloor', input({ type: 'number', step: '1', inputmode: 'numeric' })),
    field('installedAt', 'dev-installed-at', 'devices.installedAt', input({ type: 'date' })),
    field('warrantyUntil', 'dev-warranty-until', 'devices.warrantyUntil', input({ type: 'date' })),
  ];
  const otherUnit = field('maintenanceUnitOther', 'dev-unit-other', 'devices.unitOtherId', input({ maxlength: '128' }), { hint: t('form.idHint') });
  otherUnit.hidden = true;
  const syncKind = () => { for (const f of elevatorOnly) f.hidden = kind.value !== 'elevator'; };
  kind.addEventListener('change', syncKind);
  unit.addEventListener('change', () => { otherUnit.hidden = unit.value !== OTHER; });
  syncKind();

  formDialog({
    id: 'device-form',
    title: t('devices.register'),
    submitKey: 'devices.registerSubmit',
    fields: [
      field('id', 'dev-id', 'devices.id', input({ maxlength: '128' }), { required: true, hint: t('form.idHint') }),
      field('kind', 'dev-kind', 'devices.kind', kind, { required: true }),
      field('siteId', 'dev-site', 'devices.site', select(siteList.map((s) => [s.id, s.companyName ? `${s.name} · ${s.companyName}` : s.name]), { placeholder: t('form.choose') }), { required: true }),
      field('location', 'dev-location', 'devices.location', input({ maxlength: '200', placeholder: t('devices.locationExample') })),
      field('building', 'dev-building', 'devices.buildingLabel', input({ maxlength: '64' })),
      field('maintenanceUnitId', 'dev-unit', 'detail.unit', unit),
      otherUnit,
      field('registrationCode', 'dev-reg-code', 'devices.registrationCode', input({ maxlength: '64' }), { hint: t('devices.registrationCodeHint') }),
      field('nextInspectionDue', 'dev-next-inspection', 'devices.nextInspectionDue', input({ type: 'date' })),
      ...elevatorOnly,
    ],
    submit: (form) => {
      const v = values(form);
      for (const [name, msg] of [['id', 'form.required'], ['kind', 'form.required'], ['siteId', 'form.required']]) if (!v[name]) throw localError(form, name, t(msg));
      if (v.maintenanceUnitId === OTHER) {
        if (!v.maintenanceUnitOther) throw localError(form, 'maintenanceUnitOther', t('form.required'));
        v.maintenanceUnitId = v.maintenanceUnitOther;
      }
      delete v.maintenanceUnitOther;
      for (const name of ['ratedSpeed', 'topFloor', 'bottomFloor']) {
        if (v[name] === undefined) continue;
        const n = Number(v[name]);
        if (!Number.isFinite(n)) throw localError(form, name, t('form.number'));
        v[name] = n;
      }
      if (v.kind !== 'elevator') for (const f of ELEVATOR_FIELDS) delete v[f];
      return ctx.api('POST', '/api/v1/devices', v);
    },
    done: (device) => {
      ctx.changed();
      secretDialog({
        title: t('secret.deviceTitle'),
        label: t('secret.deviceLabel'),
        subject: t('secret.deviceSubject', { id: device.id, kind: t(`kind.${device.kind}`), site: device.siteName || device.siteId }),
        value: device.secret,
        warningKey: 'secret.deviceWarning',
      });
    },
  });
}

async function setDisabled(ctx, d, disabled) {
  if (disabled) {
    const ok = await confirmDialog({ title: t('devices.disableTitle'), message: t('devices.disableConfirm', { id: d.id }), confirmKey: 'devices.disable' });
    if (!ok) return;
  }
  try {
    await ctx.api('PATCH', `/api/v1/devices/${enc(d.id)}`, { disabled });
    toast(t(disabled ? 'devices.disabledDone' : 'devices.enabledDone', { id: d.id }));
  } catch (err) {
    if (!ctx.fail(err)) toast(t('form.failed', { msg: err.message }));
  }
  ctx.changed();
}

async function rotateSecret(ctx, d) {
  const ok = await confirmDialog({ title: t('devices.rotateTitle'), message: t('devices.rotateConfirm', { id: d.id }), confirmKey: 'devices.rotate' });
  if (!ok) return;
  let answer;
  try {
    answer = await ctx.api('POST', `/api/v1/devices/${enc(d.id)}/secret`);
  } catch (err) {
    if (!ctx.fail(err)) toast(t('form.failed', { msg: err.message }));
    return;
  }
  secretDialog({
    title: t('secret.rotatedTitle'), label: t('secret.deviceLabel'), subject: t('secret.rotatedSubject', { id: d.id }),
    value: answer.secret, warningKey: 'secret.deviceWarning',
  });
}

/** The elevator's QR code (the public notice residents scan) and its printable label. */
function showQr(d) {
  const base = `/public/elevators/${enc(d.registrationCode)}`;
  const close = h('button.primary', { type: 'button' }, t('secret.closePlain'));
  const img = h('img#qr-image.qr', { src: `${base}/qr.svg`, alt: t('devices.qrAlt', { code: d.registrationCode }), width: '240', height: '240' });
  const failed = h('p.error', { role: 'alert', hidden: true }, t('devices.qrFailed'));
  img.addEventListener('error', () => { failed.hidden = false; });
  const dlg = openDialog({
    title: t('devices.qrTitle', { id: d.id }),
    className: 'qr-dialog',
    body: [
      h('p.muted', null, t('devices.qrIntro', { code: d.registrationCode })),
      img, failed,
      h('p', null,
        h('a#qr-print', { href: `${base}/print`, target: '_blank', rel: 'noopener' }, t('devices.qrPrint')), ' · ',
        h('a#qr-notice', { href: base, target: '_blank', rel: 'noopener' }, t('devices.qrNotice'))),
    ],
    actions: [close],
  });
  close.addEventListener('click', () => dlg.close());
}

/** The buttons of one device row. */
export function deviceActions(ctx, d) {
  return h('div.row-actions', null,
    h('button', { type: 'button', dataset: { act: d.disabled ? 'enable' : 'disable' }, onclick: () => setDisabled(ctx, d, !d.disabled) },
      t(d.disabled ? 'devices.enable' : 'devices.disable')),
    h('button', { type: 'button', dataset: { act: 'rotate' }, onclick: () => rotateSecret(ctx, d) }, t('devices.rotate')),
    d.kind === 'elevator' && d.registrationCode ? h('button', { type: 'button', dataset: { act: 'qr' }, onclick: () => showQr(d) }, t('devices.qr')) : null);
}
