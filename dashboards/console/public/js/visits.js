// Placeholder page, replaced by its implementation in this session.
export function createVisitsView(ctx) {
  const { root } = ctx;
  return { show() {}, render() {}, hide() {}, reset() { root.replaceChildren(); } };
}
