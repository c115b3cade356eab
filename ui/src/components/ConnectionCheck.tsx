import { useState } from "react";
import { commands } from "../bindings";
import type { AppError, ConnectionCheck as Report } from "../types";
import { asAppError, ok } from "../api";
import { useI18n, type I18n } from "../i18n";
import { ErrorLine } from "./ErrorLine";

type Key = Parameters<I18n["t"]>[0];

const VERDICT: Record<Report["verdict"], Key> = {
  direct_likely: "check_direct_likely",
  relay_udp: "check_relay_udp",
  relay_tcp: "check_relay_tcp",
  relay_tls_only: "check_relay_tls_only",
  no_media: "check_no_media",
  media_unknown: "check_media_unknown",
  direct_only: "check_direct_only",
  too_soon: "check_too_soon",
  server_unreachable: "check_server_unreachable",
};

const PATH: Record<Report["paths"][number]["path"], Key> = {
  server_http: "path_server_http",
  server_ws: "path_server_ws",
  stun: "path_stun",
  turn_udp: "path_turn_udp",
  turn_tcp: "path_turn_tcp",
  turn_tls: "path_turn_tls",
};

/** The verdict in the user's language, with the relay's extra delay where it is the way. */
export function verdictText(t: I18n["t"], r: Report): string {
  return t(VERDICT[r.verdict]).replace("{ms}", String(Math.round(r.extra_ms ?? 0)));
}

/** A plain report in the user's language, for a student to send to the teacher. */
export function reportText(t: I18n["t"], r: Report): string {
  const lines = [`Tutti — ${t("checkConnection")}: ${r.server}`, verdictText(t, r)];
  if (r.public_address) lines.push(`${t("publicAddress")}: ${r.public_address}`);
  if (r.nat) lines.push(t(r.nat === "consistent" ? "nat_consistent" : "nat_varies"));
  for (const p of r.paths) {
    const rtt = p.rtt_ms != null ? ` ${Math.round(p.rtt_ms)} ms` : "";
    const to = p.to ? ` (${p.to})` : "";
    const why = p.error ? `: ${p.error}` : "";
    lines.push(`  ${p.ok ? "✓" : "✗"} ${t(PATH[p.path])}${rtt}${to}${why}`);
  }
  return lines.join("\n") + "\n";
}

/** Tries every way to `server` and says what will work from this network. */
export function ConnectionCheck({ server }: { server: string }) {
  const { t } = useI18n();
  const [report, setReport] = useState<Report | null>(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<AppError | null>(null);
  const [copied, setCopied] = useState(false);

  const run = () => {
    setRunning(true);
    setError(null);
    setCopied(false);
    ok(commands.checkConnection(server.trim()))
      .then(setReport, (e) => {
        setReport(null);
        setError(asAppError(e));
      })
      .finally(() => setRunning(false));
  };

  const good = report != null && ["direct_likely", "relay_udp"].includes(report.verdict);
  const bad = report != null && ["no_media", "server_unreachable"].includes(report.verdict);
  const text = report ? reportText(t, report) : "";

  return (
    <section className="connection-check" data-testid="connection-check">
      <h3>{t("checkConnection")}</h3>
      <p className="muted">{t("checkConnectionHint")}</p>
      <button type="button" onClick={run} disabled={running || server.trim() === ""}>
        {running ? t("checking") : report ? t("checkAgain") : t("checkConnection")}
      </button>
      <ErrorLine error={error} />
      {report && (
        <>
          <p
            className={`verdict ${good ? "good" : bad ? "bad" : "fair"}`}
            data-testid="check-verdict"
            data-verdict={report.verdict}
            role="status"
          >
            {verdictText(t, report)}
          </p>
          <ul className="check-paths">
            {report.paths.map((p) => (
              <li key={p.path} data-testid={`check-${p.path}`} data-ok={p.ok} title={p.error ?? p.to ?? ""}>
                {p.ok ? "✓" : "✗"} {t(PATH[p.path])}
                {p.rtt_ms != null && ` · ${Math.round(p.rtt_ms)} ms`}
              </li>
            ))}
          </ul>
          <details>
            <summary>{t("checkReport")}</summary>
            <textarea readOnly rows={10} value={text} data-testid="check-report" />
            <button
              type="button"
              onClick={() => {
                void navigator.clipboard?.writeText(text).then(
                  () => setCopied(true),
                  () => setCopied(false),
                );
              }}
            >
              {copied ? `✓ ${t("copied")}` : t("copyReport")}
            </button>
          </details>
        </>
      )}
    </section>
  );
}
