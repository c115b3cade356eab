import { useEffect, useRef, useState } from "react";
import { draw, onFrames } from "../video";
import { useI18n } from "../i18n";

/** One participant's picture ("" is our own camera), drawn as it arrives (at most once per
 * display refresh: see video.ts). */
export function VideoCanvas({ peer, label, small }: { peer: string; label: string; small?: boolean }) {
  const { t } = useI18n();
  const canvas = useRef<HTMLCanvasElement>(null);
  const [live, setLive] = useState(false);

  useEffect(
    () =>
      onFrames(peer, (frame) => {
        if (!canvas.current) return;
        draw(canvas.current, frame);
        setLive(true);
      }),
    [peer],
  );

  return (
    <figure className={small ? "video small" : "video"} data-peer={peer}>
      <canvas ref={canvas} width={640} height={480} />
      {!live && <span className="no-picture">{t("noPicture")}</span>}
      <figcaption>{label}</figcaption>
    </figure>
  );
}
