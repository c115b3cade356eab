import { useEffect, useRef, useState } from "react";
import { draw, onFrames } from "../video";
import { useI18n } from "../i18n";

/** One participant's picture ("" is our own camera), drawn as frames arrive. */
export function VideoCanvas({ peer, label, small }: { peer: string; label: string; small?: boolean }) {
  const { t } = useI18n();
  const canvas = useRef<HTMLCanvasElement>(null);
  const [live, setLive] = useState(false);

  useEffect(() => {
    let pending: Parameters<typeof draw>[1] | null = null;
    let raf = 0;
    // Draw at most once per display refresh; a newer frame replaces one not yet drawn.
    const unsubscribe = onFrames(peer, (frame) => {
      if (!pending) raf = requestAnimationFrame(() => {
        if (pending && canvas.current) draw(canvas.current, pending);
        pending = null;
        setLive(true);
      });
      pending = frame;
    });
    return () => {
      unsubscribe();
      cancelAnimationFrame(raf);
    };
  }, [peer]);

  return (
    <figure className={small ? "video small" : "video"} data-peer={peer}>
      <canvas ref={canvas} width={640} height={480} />
      {!live && <span className="no-picture">{t("noPicture")}</span>}
      <figcaption>{label}</figcaption>
    </figure>
  );
}
