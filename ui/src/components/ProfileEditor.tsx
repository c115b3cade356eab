import { useState } from "react";
import { LIMITS } from "../bindings";
import type { Profile } from "../types";
import { useI18n } from "../i18n";

/** The side of a picture the page keeps (a square, in pixels), and its JPEG quality. */
const PHOTO_SIDE = 160;
const PHOTO_QUALITY = 0.85;

/** A chosen picture made small: cut to a centred square, scaled to 160×160, as a JPEG data URL. */
export async function smallPhoto(file: Blob): Promise<string> {
  const bitmap = await createImageBitmap(file);
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement("canvas");
  canvas.width = PHOTO_SIDE;
  canvas.height = PHOTO_SIDE;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2D canvas");
  ctx.drawImage(
    bitmap,
    (bitmap.width - side) / 2,
    (bitmap.height - side) / 2,
    side,
    side,
    0,
    0,
    PHOTO_SIDE,
    PHOTO_SIDE,
  );
  return canvas.toDataURL("image/jpeg", PHOTO_QUALITY);
}

/** The teacher's page in Settings: instruments, a short biography, a photo. */
export function ProfileEditor(props: { profile: Profile; onChange: (p: Profile) => void }) {
  const { t } = useI18n();
  const { profile } = props;
  const [photoError, setPhotoError] = useState(false);
  const set = (patch: Partial<Profile>) => props.onChange({ ...profile, ...patch });
  return (
    <fieldset className="profile" data-testid="profile">
      <legend>{t("teacherPage")}</legend>
      <small className="muted">{t("teacherPageHint")}</small>
      <label>
        {t("instruments")}
        <input
          value={profile.instruments.join(", ")}
          placeholder={t("instrumentsHint")}
          onChange={(e) =>
            set({
              instruments: e.target.value
                .split(",")
                .map((i) => i.trimStart())
                .filter((i, n, all) => i !== "" || n === all.length - 1),
            })
          }
          onBlur={() => set({ instruments: profile.instruments.map((i) => i.trim()).filter((i) => i !== "") })}
        />
      </label>
      <label>
        {t("bio")}
        <textarea
          value={profile.bio}
          maxLength={LIMITS.bio_chars}
          rows={4}
          onChange={(e) => set({ bio: e.target.value })}
        />
      </label>
      <div className="photo">
        {profile.photo && <img src={profile.photo} alt={t("photo")} width={80} height={80} />}
        <label>
          {t("photo")}
          <input
            type="file"
            accept="image/jpeg,image/png,image/webp"
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (!file) return;
              setPhotoError(false);
              smallPhoto(file).then(
                (photo) => set({ photo }),
                () => setPhotoError(true),
              );
            }}
          />
        </label>
        {profile.photo && (
          <button type="button" onClick={() => set({ photo: null })}>
            {t("removePhoto")}
          </button>
        )}
        {photoError && (
          <p className="error" role="alert">
            {t("photoUnreadable")}
          </p>
        )}
      </div>
    </fieldset>
  );
}
