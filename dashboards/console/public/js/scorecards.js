// Placeholder page, replaced by its implementation in this session.
export function createScorecardsView(ctx) {
  const { root } = ctx;
  return { show() {}, render() {}, hide() {}, reset() { root.replaceChildren(); } };
}
