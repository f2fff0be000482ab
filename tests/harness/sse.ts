/** Server-sent events read from a fetch response, one frame at a time. */
export async function* sseEvents(res: Response): AsyncGenerator<{ id: string; event: string; data: string }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const f: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const m = /^([a-z]+): ?(.*)$/.exec(line);
        if (m) f[m[1]!] = m[2]!;
      }
      if (f.data !== undefined) yield { id: f.id ?? '', event: f.event ?? 'message', data: f.data };
    }
  }
}
