import { dictionaries, makeI18n, pickLanguage } from "./i18n";

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
});
