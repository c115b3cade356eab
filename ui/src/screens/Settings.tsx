import { useState } from "react";
import { commands, LIMITS } from "../bindings";
import type { AppError, AudioSystem, Language, Settings } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "../components/ErrorLine";
import { ConnectionCheck } from "../components/ConnectionCheck";
import { ProfileEditor } from "../components/ProfileEditor";

export function SettingsScreen(props: { settings: Settings; onSaved: (s: Settings) => void }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(props.settings);
  const [error, setError] = useState<AppError | null>(null);
  const [saved, setSaved] = useState(false);
  const set = (patch: Partial<Settings>) => {
    setSaved(false);
    setDraft({ ...draft, ...patch });
  };

  return (
    <form
      className="card settings"
      onSubmit={(e) => {
        e.preventDefault();
        setError(null);
        ok(commands.saveSettings(draft)).then(
          (s) => {
            setSaved(true);
            props.onSaved(s);
          },
          (e) => setError(asAppError(e)),
        );
      }}
    >
      <label>
        {t("name")}
        <input value={draft.name} onChange={(e) => set({ name: e.target.value })} maxLength={LIMITS.name_chars} />
      </label>
      <label>
        {t("language")}
        <select
          value={draft.language}
          onChange={(e) => set({ language: e.target.value as Language })}
        >
          <option value="auto">{t("auto")}</option>
          <option value="ko">한국어</option>
          <option value="en">English</option>
        </select>
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={draft.host_locally}
          onChange={(e) => set({ host_locally: e.target.checked })}
        />
        {t("hostLocally")}
      </label>
      {draft.host_locally ? (
        <label>
          {t("localPort")}
          <input
            type="number"
            min={1024}
            max={65535}
            value={draft.local_port}
            onChange={(e) => set({ local_port: Number(e.target.value) })}
          />
        </label>
      ) : null}
      <label>
        {t("serverUrl")}
        <input
          value={draft.server_url}
          onChange={(e) => set({ server_url: e.target.value })}
          spellCheck={false}
        />
      </label>
      <label>
        {t("audioSystem")}
        <select
          value={draft.audio_system ?? "auto"}
          onChange={(e) => set({ audio_system: e.target.value as AudioSystem })}
        >
          <option value="auto">{t("audioSystemAuto")}</option>
          <option value="jack">JACK</option>
        </select>
        <small className="muted">{t("audioSystemHint")}</small>
      </label>
      <label>
        {t("frameMs")}
        <select value={draft.frame_ms ?? 5} onChange={(e) => set({ frame_ms: Number(e.target.value) })}>
          {[2.5, 5, 10, 20].map((ms) => (
            <option key={ms} value={ms}>
              {ms}
            </option>
          ))}
        </select>
        <small className="muted">{t("frameHint")}</small>
      </label>
      <label>
        {t("bitrate")}
        <input
          type="number"
          min={32}
          max={510}
          value={draft.bitrate_kbps}
          onChange={(e) => set({ bitrate_kbps: Number(e.target.value) })}
        />
      </label>
      <ProfileEditor profile={draft.profile} onChange={(profile) => set({ profile })} />
      <ErrorLine error={error} />
      <button type="submit" className="primary">
        {saved ? `✓ ${t("saved")}` : t("save")}
      </button>
      <ConnectionCheck server={draft.server_url} />
    </form>
  );
}
