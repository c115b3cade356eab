import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { InviteCard } from "./InviteCard";
import { failing, fakeBackend } from "../test/ipc";
import type { InvitePreview } from "../types";

const scheduled: InvitePreview = {
  code: "K7Q-4MZ-XP3",
  title: "Bach partita no. 2",
  teacher: "김선생",
  state: "scheduled",
  // Sat 12 Dec 2026, 18:00 in Seoul.
  scheduled_ms: Date.UTC(2026, 11, 12, 9, 0),
  started_ms: null,
  ended_ms: null,
  teacher_tz: "Asia/Seoul",
  teacher_page: null,
};

function Typing() {
  const [code, setCode] = useState("");
  return (
    <>
      <input aria-label="code" value={code} onChange={(e) => setCode(e.target.value)} />
      <InviteCard code={code} server=" ws://rooms.example/ws " />
    </>
  );
}

describe("the invite card", () => {
  it("asks the room server once the code is whole, and shows the lesson in both times", async () => {
    const backend = fakeBackend({ preview_invite: () => scheduled });
    render(<Typing />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("code"), "k7q 4mz");
    // Half a code asks nothing.
    await new Promise((r) => setTimeout(r, 500));
    expect(backend.called("preview_invite")).toEqual([]);
    await user.type(screen.getByLabelText("code"), " xp3");
    const card = await screen.findByTestId("invite-card");
    expect(backend.called("preview_invite")).toEqual([{ code: "k7q4mzxp3", server: "ws://rooms.example/ws" }]);
    expect(card.textContent).toContain("Bach partita no. 2");
    expect(card.textContent).toContain("김선생");
    expect(card.textContent).toContain("Not started yet");
    // The test runs in UTC: the student's time, then the teacher's in Seoul.
    expect(card.textContent).toContain("Your time: Sat 12 Dec, 09:00 (UTC)");
    expect(card.textContent).toContain("Teacher's time: Sat 12 Dec, 18:00 (Seoul)");
    // Another code: the card goes until the server has answered for it.
    await user.type(screen.getByLabelText("code"), "{backspace}");
    expect(screen.queryByTestId("invite-card")).toBeNull();
  });

  it("shows the teacher's page when the lesson names one", async () => {
    const page = {
      name: "김선생",
      instruments: ["violin", "viola"],
      bio: "Seoul Philharmonic, 20 years.",
      time_zone: "Asia/Seoul",
      photo: "data:image/jpeg;base64,/9j/4AAQ",
    };
    const backend = fakeBackend({
      preview_invite: () => ({ ...scheduled, teacher_page: "0123456789abcdef0123456789abcdef" }),
      teacher_page: () => page,
    });
    render(<Typing />);
    await userEvent.setup().type(screen.getByLabelText("code"), "K7Q4MZXP3");
    const card = await screen.findByTestId("teacher-card");
    expect(backend.called("teacher_page")).toEqual([{ server: "ws://rooms.example/ws", id: "0123456789abcdef0123456789abcdef" }]);
    expect(card.textContent).toContain("violin, viola");
    expect(card.textContent).toContain("Seoul Philharmonic, 20 years.");
    expect(card.querySelector("img")?.getAttribute("src")).toBe(page.photo);
  });

  it("shows no page where the server has none", async () => {
    fakeBackend({
      preview_invite: () => ({ ...scheduled, teacher_page: "0123456789abcdef0123456789abcdef" }),
      teacher_page: () => null,
    });
    render(<Typing />);
    await userEvent.setup().type(screen.getByLabelText("code"), "K7Q4MZXP3");
    await screen.findByTestId("invite-card");
    await new Promise((r) => setTimeout(r, 100));
    expect(screen.queryByTestId("teacher-card")).toBeNull();
  });

  it("says a wrong code before anyone knocks", async () => {
    fakeBackend({ preview_invite: failing({ code: "wrong_code", message: "no lesson has the code" }) });
    render(<Typing />);
    await userEvent.setup().type(screen.getByLabelText("code"), "AAA-BBB-CCC");
    const alert = await screen.findByRole("alert");
    expect(alert.getAttribute("data-code")).toBe("wrong_code");
    expect(alert.textContent).toContain("No lesson has this code");
  });

  it("says a lesson was cancelled, not that the code is wrong", async () => {
    fakeBackend({
      preview_invite: () => ({ ...scheduled, state: "cancelled", ended_ms: Date.UTC(2026, 11, 10, 0, 0) }),
    });
    render(<Typing />);
    await userEvent.setup().type(screen.getByLabelText("code"), "K7Q4MZXP3");
    const card = await screen.findByTestId("invite-card");
    expect(card.getAttribute("data-state")).toBe("cancelled");
    expect(card.textContent).toContain("This lesson was cancelled.");
  });

  it("never shows one code's lesson for another", async () => {
    fakeBackend({
      preview_invite: async (a) => {
        if (a.code === "K7Q4MZXP3") return scheduled;
        // The second code's answer is slow to come.
        await new Promise((r) => setTimeout(r, 600));
        return { ...scheduled, code: "N3W-C0D-E42", title: "Etudes", state: "live" };
      },
    });
    render(<Typing />);
    const user = userEvent.setup();
    const box = screen.getByLabelText("code");
    await user.type(box, "K7Q4MZXP3");
    expect((await screen.findByTestId("invite-card")).textContent).toContain("Bach partita");
    await user.clear(box);
    await user.type(box, "N3WC0DE42");
    // Until the server has answered for this code, nothing is shown for it.
    expect(screen.queryByTestId("invite-card")).toBeNull();
    const card = await screen.findByTestId("invite-card", {}, { timeout: 3000 });
    expect(card.textContent).toContain("Etudes");
  });
});
