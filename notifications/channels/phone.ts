/**
 * Phone numbers as contacts write them (`138 1234 5678`, `+86-138…`, `0755-8888 6666`, `+852 …`) in
 * the forms the providers want: Aliyun takes a mainland number without country code and any other
 * with its code and no `+`; Tencent Cloud wants E.164 (`+8613812345678`).
 */
export interface PhoneNumber {
  /** `+8613812345678`, `+8675588886666`, `+85291234567`. */
  e164: string;
  /** Aliyun's form: `13812345678`, `075588886666`, `85291234567`. */
  aliyun: string;
  mainland: boolean;
}

/** Undefined when `address` is no phone number; landlines (`0` + area code) only when asked (voice calls). */
export function parsePhone(address: string, opts: { landline: boolean }): PhoneNumber | undefined {
  const compact = address.replace(/[\s\-()]/g, '');
  const mobile = /^(?:\+86|0086|86)?(1[3-9]\d{9})$/.exec(compact);
  if (mobile) return { e164: `+86${mobile[1]!}`, aliyun: mobile[1]!, mainland: true };
  if (opts.landline) {
    const fixed = /^(?:\+86|0086)?0?([1-9]\d{1,3}\d{7,8})$/.exec(compact);
    if (fixed && compact.replace(/^(?:\+86|0086)/, '').startsWith('0')) {
      return { e164: `+86${fixed[1]!}`, aliyun: `0${fixed[1]!}`, mainland: true };
    }
  }
  const international = /^(?:\+|00)([1-9]\d{6,14})$/.exec(compact);
  if (international && !international[1]!.startsWith('86')) {
    return { e164: `+${international[1]!}`, aliyun: international[1]!, mainland: false };
  }
  return undefined;
}
