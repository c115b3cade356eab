import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { commands, events } from "./bindings";
import type { AppError, LessonView, Settings } from "./types";
import { asAppError, ok } from "./api";
import { I18nContext, makeI18n, pickLanguage } from "./i18n";
import { Home } from "./screens/Home";
import { DeviceCheck, type Pending } from "./screens/DeviceCheck";
import { Lesson } from "./screens/Lesson";
import { History } from "./screens/History";
import { SettingsScreen } from "./screens/Settings";
import { ErrorLine } from "./components/ErrorLine";

type Screen = "home" | "check" | "history" | "settings";

export function App() {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [screen, setScreen] = useState<Screen>("home");
  const [pending, setPending] = useState<Pending | null>(null);
  const [lesson, setLesson] = useState<LessonView | null>(null);
  const [joining, setJoining] = useState(false);
  // A start is under way (a second click must not start a second lesson).
  const [busy, setBusy] = useState(false);
  // Why the last lesson is over, in words.
  const [over, setOver] = useState<string | null>(null);
  const [error, setError] = useState<AppError | null>(null);

  useEffect(() => {
    void commands.getSettings().then(setSettings);
    // A reloaded window picks up the lesson that is still going.
    void ok(commands.lessonView()).then((v) => v && setLesson(v), () => {});
    const unlisten = [
      events.lessonChanged.listen((e) => setLesson(e.payload)),
      events.lessonOver.listen((e) => {
        setLesson(null);
        setOver(i18nRef.current.t(`over_${e.payload.reason}`));
        setScreen("home");
      }),
    ];
    return () => unlisten.forEach((u) => void u.then((f) => f()));
  }, []);

  const i18n = useMemo(
    () => makeI18n(pickLanguage(settings?.language ?? "auto", navigator.languages)),
    [settings?.language],
  );

  const i18nRef = useRef(i18n);
  useEffect(() => {
    i18nRef.current = i18n;
    document.documentElement.lang = i18n.lang;
  }, [i18n]);

  const go = useCallback(async (p: Pending) => {
    setBusy(true);
    setError(null);
    setOver(null);
    setJoining(p.kind === "join");
    try {
      const view = await ok(
        p.kind === "host"
          ? commands.hostLesson(p.title)
          : p.kind === "start"
            ? commands.startScheduled(p.id)
            : commands.joinLesson(p.code, p.server),
      );
      setLesson(view);
    } catch (e) {
      const err = asAppError(e);
      if (err.code !== "cancelled") setError(err);
      setScreen(p.kind === "join" ? "home" : "check");
    } finally {
      setJoining(false);
      setBusy(false);
    }
  }, []);

  if (!settings) return null;

  let body;
  if (lesson) {
    body = (
      <Lesson
        key={lesson.local_id}
        view={lesson}
        onLeft={(ended, failed) => {
          setLesson(null);
          setOver(failed ? null : i18n.t(ended ? "youEnded" : "youLeft"));
          setError(failed ?? null);
          setScreen("home");
        }}
      />
    );
  } else if (joining) {
    body = (
      <div className="center card" role="status">
        <p>{i18n.t("waitingForAdmit")}</p>
        <button onClick={() => void commands.cancelJoin()}>{i18n.t("stopWaiting")}</button>
      </div>
    );
  } else if (screen === "check" && pending) {
    body = (
      <DeviceCheck
        settings={settings}
        server={lessonServer(pending, settings)}
        onSettings={setSettings}
        onBack={() => setScreen("home")}
        busy={busy}
        onContinue={() => void go(pending)}
      />
    );
  } else if (screen === "history") {
    body = <History />;
  } else if (screen === "settings") {
    body = <SettingsScreen settings={settings} onSaved={setSettings} />;
  } else {
    body = (
      <Home
        settings={settings}
        last={pending}
        onHistory={() => setScreen("history")}
        onStart={(p) => {
          setPending(p);
          setError(null);
          setScreen("check");
        }}
      />
    );
  }

  return (
    <I18nContext.Provider value={i18n}>
      <div className="app">
        {!lesson && !joining && (
          <nav className="tabs" aria-label="main">
            {(["home", "history", "settings"] as const).map((s) => (
              <button
                key={s}
                className={screen === s || (s === "home" && screen === "check") ? "active" : ""}
                onClick={() => setScreen(s)}
              >
                {i18n.t(s)}
              </button>
            ))}
          </nav>
        )}
        {over && (
          <p className="notice" role="status">
            {over}
          </p>
        )}
        {error && <ErrorLine error={error} />}
        {error?.code === "lesson_unknown" && pending?.kind === "start" && (
          <button
            className="primary"
            disabled={busy}
            onClick={() => {
              const id = pending.id;
              setError(null);
              setBusy(true);
              // A new code on the server, then the lesson opens as it would have.
              ok(commands.reopenScheduled(id)).then(
                () => void go({ kind: "start", id }),
                (e) => {
                  setBusy(false);
                  setError(asAppError(e));
                },
              );
            }}
          >
            {i18n.t("reopenLesson")}
          </button>
        )}
        <main>{body}</main>
      </div>
    </I18nContext.Provider>
  );
}

/** The room server a lesson about to start will use, when it is elsewhere: the invite's, or
 *  the one in Settings. `null` for the app's own (it starts with the lesson; the student's check
 *  is the one that tells how they reach it). */
export function lessonServer(p: Pending, s: Settings): string | null {
  if (p.kind === "join") return p.server;
  return s.host_locally ? null : s.server_url;
}
