import { cleanup } from "@testing-library/react";
import { clearMocks } from "@tauri-apps/api/mocks";

afterEach(async () => {
  cleanup();
  // Unmounting unlistens asynchronously; let that finish before the fake IPC goes away.
  await new Promise((resolve) => setTimeout(resolve, 0));
  clearMocks();
});
