import { dictionaries, makeI18n, pickLanguage } from "./i18n";
import type { Field, Problem } from "./types";

describe("language", () => {
  it("follows the system unless the user chose", () => {
    expect(pickLanguage("auto", ["ko-KR", "en-US"])).toBe("ko");
    expect(pickLanguage("auto", ["ar-AE", "en-US"])).toBe("en");
    expect(pickLanguage("auto", ["fr-FR"])).toBe("en");
    expect(pickLanguage("en", ["ko-KR"])).toBe("en");
    expect(pickLanguage("ko", ["en-US"])).toBe("ko");
  });

  it("has every phrase in both languages", () => {
    for (const key of Object.keys(dictionaries.en) as (keyof typeof dictionaries.en)[]) {
      expect(dictionaries.ko[key], key).toBeTruthy();
    }
  });

  it("says errors in the user's language by their code", () => {
    const e = { code: "wrong_code" as const, message: "no lesson has the code ABC-DEF" };
    expect(makeI18n("ko").error(e)).toContain("코드");
    expect(makeI18n("en").error(e)).toContain("No lesson has this code");
  });

  it("says every problem in Korean with no English in it", () => {
    const fields: Field[] = [
      "title", "name", "question", "message", "note", "about", "lesson_minutes", "local_port",
      "bitrate", "tempo", "beats", "count_in", "volume", "pan", "reference_a", "replay_seconds", "text",
    ];
    const problems: Problem[] = [
      ...fields.flatMap((what): Problem[] => [
        { key: "length", what, max: 120 },
        { key: "empty", what },
        { key: "range", what, min: 1, max: 16 },
      ]),
      { key: "no_time" },
      { key: "server_address" },
      { key: "unknown_zone", zone: "Asia/Seoul" },
      { key: "frame_length" },
      { key: "no_such_question" },
      { key: "too_large_to_play", mb: 700 },
      { key: "already_recording" },
      { key: "not_here" },
      ...["lesson_full", "lesson_live", "storage", "invalid_input", "version_mismatch", "no_such_peer",
        "no_such_question", "session_expired", "rate_limited", "some_future_code"].map(
        (code): Problem => ({ key: "server", code }),
      ),
    ];
    // What may stay in Latin letters: units, the address schemes, a zone's own name.
    const allowed = /\b(ws|wss|kb|ms|Hz|MB|A|Asia|Seoul)\b/g;
    for (const problem of problems) {
      for (const code of ["invalid_input", "refused"] as const) {
        const e = { code, message: "the English detail from Rust", problem };
        const said = makeI18n("ko").error(e);
        expect(said, JSON.stringify(problem)).toMatch(/[가-힣]/);
        expect(said.replace(allowed, ""), JSON.stringify(problem)).not.toMatch(/[A-Za-z]{2,}/);
        expect(makeI18n("en").error(e)).not.toContain("English detail");
      }
    }
  });

  it("keeps the English detail of an unexpected failure out of the sentence", () => {
    const e = { code: "internal" as const, message: "spawn_blocking panicked" };
    expect(makeI18n("ko").error(e)).toBe("문제가 생겼습니다.");
    expect(makeI18n("en").error(e)).toBe("Something went wrong.");
  });
});
