// Times in named zones, for a teacher and a student five hours apart.

/** e.g. "Sat 5 Dec, 19:00" in `zone`, in the UI's language. A zone this web view does not know
 *  (a name from elsewhere, newer than its data) is shown in UTC rather than failing the screen. */
export function formatIn(ms: number, zone: string, lang: string): string {
  const format = (timeZone: string) =>
    new Intl.DateTimeFormat(lang === "ko" ? "ko-KR" : "en-GB", {
      timeZone,
      weekday: "short",
      day: "numeric",
      month: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).format(new Date(ms));
  try {
    return format(zone);
  } catch {
    return `${format("UTC")} UTC`;
  }
}

/** "Seoul" from "Asia/Seoul". */
export function cityOf(zone: string): string {
  return (zone.split("/").pop() ?? zone).replace(/_/g, " ");
}

/** The instant that `local` (from an `<input type="datetime-local">`, "2026-12-05T19:00")
 * names in `zone`. */
export function zonedToMs(local: string, zone: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local);
  if (!m) return null;
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0] = m.slice(1).map(Number);
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  // The zone's offset at that moment, found by formatting; twice, so a DST edge settles.
  let guess = asUtc - offsetMs(asUtc, zone);
  guess = asUtc - offsetMs(guess, zone);
  return guess;
}

function offsetMs(ms: number, zone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(ms));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return wall - Math.floor(ms / 1000) * 1000;
}
