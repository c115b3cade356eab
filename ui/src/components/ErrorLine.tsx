import type { AppError } from "../types";
import { useI18n } from "../i18n";

export function ErrorLine({ error }: { error: AppError | null }) {
  const { error: say } = useI18n();
  if (!error) return null;
  return (
    // The English detail as a tooltip: for a report, never in the way of the user's language.
    <p className="error" role="alert" data-code={error.code} title={error.message}>
      {say(error)}
    </p>
  );
}
