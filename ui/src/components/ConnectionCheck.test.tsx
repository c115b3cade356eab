import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ConnectionCheck } from "./ConnectionCheck";
import { I18nContext, makeI18n } from "../i18n";
import { failing, fakeBackend } from "../test/ipc";
import type { ConnectionCheck as Report } from "../types";

const onlyTls: Report = {
  server: "wss://rooms.example/ws",
  verdict: "relay_tls_only",
  extra_ms: 41.6,
  public_address: "203.0.113.7",
  nat: null,
  paths: [
    { path: "server_http", ok: true, rtt_ms: 20.2, to: "https://rooms.example", error: null },
    { path: "server_ws", ok: true, rtt_ms: 21, to: "wss://rooms.example/ws", error: null },
    { path: "stun", ok: false, rtt_ms: null, to: "rooms.example:3478", error: "no answer within 5 s" },
    { path: "turn_udp", ok: false, rtt_ms: null, to: "rooms.example:3478", error: "no answer within 5 s" },
    { path: "turn_tcp", ok: false, rtt_ms: null, to: "rooms.example:3478", error: "Connection refused" },
    { path: "turn_tls", ok: true, rtt_ms: 41.6, to: "rooms.example:443", error: null },
  ],
};

describe("the connection check", () => {
  it("checks the given server and says what works, in Korean, with a report to send", async () => {
    const backend = fakeBackend({ check_connection: () => onlyTls });
    render(
      <I18nContext.Provider value={makeI18n("ko")}>
        <ConnectionCheck server=" wss://rooms.example/ws " />
      </I18nContext.Provider>,
    );
    await userEvent.setup().click(screen.getByRole("button", { name: "연결 점검" }));
    const verdict = await screen.findByTestId("check-verdict");
    expect(backend.called("check_connection")).toEqual([{ server: "wss://rooms.example/ws" }]);
    expect(verdict.dataset.verdict).toBe("relay_tls_only");
    expect(verdict.textContent).toBe("TLS 릴레이만 됩니다: 한쪽 방향으로 약 42 ms 더 걸립니다.");
    expect(screen.getByTestId("check-turn_tls").textContent).toBe("✓ TLS 릴레이 · 42 ms");
    expect(screen.getByTestId("check-stun").dataset.ok).toBe("false");
    expect(screen.getByTestId("check-stun").title).toBe("no answer within 5 s");
    const report = (screen.getByTestId("check-report") as HTMLTextAreaElement).value;
    expect(report).toContain("공인 주소: 203.0.113.7");
    expect(report).toContain("✗ UDP 릴레이 (rooms.example:3478): no answer within 5 s");
    expect(report).toContain("✓ TLS 릴레이 42 ms (rooms.example:443)");
    // No English sentence on the Korean screen, but the failures' own detail.
    expect(verdict.textContent).not.toMatch(/[A-Za-z]{4,}/);
  });

  it("says a bad address in the user's language and keeps no stale report", async () => {
    fakeBackend({
      check_connection: failing({
        code: "invalid_input",
        message: "\"http://x\" is not a room server address",
        problem: { key: "server_address" },
      }),
    });
    render(<ConnectionCheck server="http://x" />);
    await userEvent.setup().click(screen.getByRole("button", { name: "Connection check" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).not.toContain("http://x");
    expect(screen.queryByTestId("check-verdict")).toBeNull();
  });
});
