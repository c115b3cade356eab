/** A live level: the peak of the recent sound (0–1) on a decibel scale from −60 dB, so a quiet
 * bow stroke moves it as visibly as a loud one. Green, then amber from −12 dB, red from −3 dB. */
export function LevelMeter({ level, label }: { level: number; label: string }) {
  const db = level > 0 ? 20 * Math.log10(Math.min(level, 1)) : -Infinity;
  const fill = Math.max(0, Math.min(1, (db + 60) / 60));
  const tone = db > -3 ? "hot" : db > -12 ? "warm" : "ok";
  return (
    <div
      className="level-meter"
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={1}
      aria-valuenow={Number(level.toFixed(2))}
    >
      <div className={`level-fill ${tone}`} style={{ width: `${(fill * 100).toFixed(1)}%` }} />
    </div>
  );
}
