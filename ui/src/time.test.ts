import { cityOf, formatIn, zonedToMs } from "./time";

describe("times in two zones", () => {
  it("shows one instant in Seoul and Abu Dhabi, five hours apart", () => {
    const ms = Date.UTC(2026, 11, 5, 10, 0); // 10:00 UTC
    expect(formatIn(ms, "Asia/Seoul", "en")).toContain("19:00");
    expect(formatIn(ms, "Asia/Dubai", "en")).toContain("14:00");
    // A zone this web view does not know: said in UTC, not a failing screen.
    expect(formatIn(ms, "Mars/Olympus_Mons", "en")).toMatch(/10:00 UTC$/);
    expect(cityOf("Asia/Dubai")).toBe("Dubai");
    expect(cityOf("America/New_York")).toBe("New York");
  });

  it("reads a wall-clock time in a zone", () => {
    expect(zonedToMs("2026-12-05T19:00", "Asia/Seoul")).toBe(Date.UTC(2026, 11, 5, 10, 0));
    expect(zonedToMs("2026-12-05T14:00", "Asia/Dubai")).toBe(Date.UTC(2026, 11, 5, 10, 0));
    // Across a DST change: 9:00 in New York in July is 13:00 UTC.
    expect(zonedToMs("2026-07-01T09:00", "America/New_York")).toBe(Date.UTC(2026, 6, 1, 13, 0));
    expect(zonedToMs("tomorrow", "Asia/Seoul")).toBeNull();
  });
});
