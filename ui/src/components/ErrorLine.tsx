import type { AppError } from "../types";
import { useI18n } from "../i18n";

export function ErrorLine({ error }: { error: AppError | null }) {
  const { error: say } = useI18n();
  if (!error) return null;
  return (
    <p className="error" role="alert" data-code={error.code}>
      {say(error)}
    </p>
  );
}
