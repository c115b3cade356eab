import { useEffect, useState } from "react";
import { commands, events } from "../bindings";
import type { AppError, DeviceList, Settings } from "../types";
import { asAppError, ok } from "../api";
import { useI18n } from "../i18n";
import { ErrorLine } from "../components/ErrorLine";
import { VideoCanvas } from "../components/VideoCanvas";
import { ConnectionCheck } from "../components/ConnectionCheck";

/** What happens after the check. */
export type Pending =
  | { kind: "host"; title: string }
  | { kind: "start"; id: number }
  | { kind: "join"; code: string; server: string };

export function DeviceCheck(props: {
  settings: Settings;
  /** The room server the lesson will use, for the connection check (none: the app's own). */
  server: string | null;
  onSettings: (s: Settings) => void;
  onBack: () => void;
  onContinue: () => void;
  busy: boolean;
}) {
  const { t } = useI18n();
  const { settings } = props;
  const [devices, setDevices] = useState<DeviceList | null>(null);
  const [level, setLevel] = useState(0);
  const [micError, setMicError] = useState<AppError | null>(null);
  const [cameraError, setCameraError] = useState<AppError | null>(null);
  const [error, setError] = useState<AppError | null>(null);

  useEffect(() => {
    void commands.listDevices().then(setDevices);
    const unlisten = events.inputLevel.listen((e) => setLevel(e.payload.level ?? 0));
    return () => void unlisten.then((f) => f());
  }, []);

  // (Re)start the meter and the preview whenever the chosen devices change.
  useEffect(() => {
    let stale = false;
    ok(commands.startDeviceCheck(settings.microphone, settings.camera)).then(
      (r) => {
        if (stale) return;
        setMicError(r.microphone);
        setCameraError(r.camera);
      },
      (e) => {
        const err = asAppError(e);
        // A check replaced by a newer one (another device chosen) says nothing.
        if (!stale && err.code !== "cancelled") setError(err);
      },
    );
    return () => {
      stale = true;
      void commands.stopDeviceCheck();
    };
  }, [settings.microphone, settings.camera]);

  const choose = (patch: Partial<Settings>) => {
    const next = { ...settings, ...patch };
    ok(commands.saveSettings(next)).then(props.onSettings, (e) => setError(asAppError(e)));
  };

  return (
    <div className="check card">
      <h2>{t("deviceCheck")}</h2>
      <p className="notice">{t("musicMode")}</p>
      <p className="notice strong">{t("headphones")}</p>
      {devices?.audio_error && <ErrorLine error={devices.audio_error} />}
      <div className="check-grid">
        <div>
          <Picker
            label={t("microphone")}
            options={devices?.microphones ?? []}
            value={settings.microphone}
            onChange={(microphone) => choose({ microphone })}
          />
          <div className="meter" aria-label={t("inputLevel")} role="meter" aria-valuenow={level}>
            <div style={{ width: `${Math.min(100, Math.round(Math.sqrt(level) * 100))}%` }} />
          </div>
          <ErrorLine error={micError} />
          <Picker
            label={t("speaker")}
            options={devices?.speakers ?? []}
            value={settings.speaker}
            onChange={(speaker) => choose({ speaker })}
          />
          <button
            onClick={() =>
              ok(commands.playTestSound(settings.speaker)).catch((e) => setError(asAppError(e)))
            }
          >
            {t("testSound")}
          </button>
          <Picker
            label={t("camera")}
            options={devices?.cameras ?? []}
            value={settings.camera}
            onChange={(camera) => choose({ camera })}
          />
        </div>
        <div className="preview">
          {cameraError ? <ErrorLine error={cameraError} /> : <VideoCanvas peer="" label={t("you")} />}
        </div>
      </div>
      {props.server && <ConnectionCheck server={props.server} />}
      <ErrorLine error={error} />
      <div className="actions">
        <button onClick={props.onBack}>{t("back")}</button>
        <button className="primary" onClick={props.onContinue} disabled={props.busy}>
          {t("continue")}
        </button>
      </div>
    </div>
  );
}

function Picker(props: {
  label: string;
  options: string[];
  value: string | null;
  onChange: (v: string | null) => void;
}) {
  const { t } = useI18n();
  return (
    <label>
      {props.label}
      <select
        value={props.value ?? ""}
        onChange={(e) => props.onChange(e.target.value === "" ? null : e.target.value)}
      >
        <option value="">{t("systemDefault")}</option>
        {props.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
      {props.options.length === 0 && <small className="muted">{t("noDevices")}</small>}
    </label>
  );
}
