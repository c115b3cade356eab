import { useEffect, useState } from "react";
import { commands } from "../bindings";
import type { TeacherPageView } from "../types";
import { ok } from "../api";
import { useI18n } from "../i18n";

/** A teacher's page (photo, name, instruments, biography, time zone), read from the lesson's
 *  room server. Shows nothing while it loads, or when the server has none. */
export function TeacherCard({ server, id }: { server: string; id: string }) {
  const { t } = useI18n();
  const [page, setPage] = useState<{ id: string; page: TeacherPageView } | null>(null);

  useEffect(() => {
    let live = true;
    ok(commands.teacherPage(server.trim(), id)).then(
      (p) => live && setPage(p ? { id, page: p } : null),
      // The page is a courtesy: without it the lesson and the preview go on as they are.
      () => live && setPage(null),
    );
    return () => {
      live = false;
    };
  }, [server, id]);

  if (!page || page.id !== id) return null;
  const p = page.page;
  return (
    <aside className="teacher-card" data-testid="teacher-card" aria-label={t("teacherPage")}>
      {p.photo && <img src={p.photo} alt={p.name} width={64} height={64} />}
      <div>
        <strong>{p.name}</strong>
        {p.instruments.length > 0 && <span className="muted"> · {p.instruments.join(", ")}</span>}
        {p.bio && <p>{p.bio}</p>}
        {p.time_zone && <small className="muted">{p.time_zone.replaceAll("_", " ")}</small>}
      </div>
    </aside>
  );
}
