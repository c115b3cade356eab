import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Notes, Questions, SidePanel, sortQuestions } from "./SidePanel";
import { fakeBackend, lessonView, question } from "../test/ipc";

describe("the question queue", () => {
  it("puts pinned first, then most voted (older first on ties) or newest", () => {
    const qs = [
      question(1, { votes: 2 }),
      question(2, { votes: 5 }),
      question(3, { votes: 2 }),
      question(4, { pinned: true }),
    ];
    expect(sortQuestions(qs, "votes").map((q) => q.id)).toEqual([4, 2, 1, 3]);
    expect(sortQuestions(qs, "newest").map((q) => q.id)).toEqual([4, 3, 2, 1]);
  });

  it("lets the host answer, and a voice question's author be given the mic", async () => {
    const ipc = fakeBackend({});
    const view = lessonView({
      questions: [question(7, { text: "How do I hold the bow?", pre_lesson: true }), question(8, { voice: true, text: "" })],
    });
    render(<Questions view={view} />);
    const user = userEvent.setup();
    const first = screen.getByText("How do I hold the bow?").closest("li")!;
    expect(within(first).getByText(/before the lesson/)).toBeTruthy();
    await user.click(within(first).getByRole("button", { name: "✓ Answered" }));
    await user.click(screen.getByRole("button", { name: "Give the mic" }));
    expect(ipc.called("set_question_state")).toEqual([{ questionId: 7, newState: "answered" }]);
    expect(ipc.called("set_mic")).toEqual([{ peerId: "p-omar", allowed: true }]);
  });

  it("gives a student voting and asking but no host controls", async () => {
    const ipc = fakeBackend({});
    render(<Questions view={lessonView({ host: false, questions: [question(3, { votes: 1 })] })} />);
    const user = userEvent.setup();
    expect(screen.queryByRole("button", { name: "✓ Answered" })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Upvote" }));
    await user.type(screen.getByPlaceholderText("Ask a question…"), "Vibrato?");
    await user.click(screen.getByLabelText("Anonymous"));
    await user.click(screen.getByRole("button", { name: "Ask" }));
    expect(ipc.called("vote")).toEqual([{ questionId: 3, up: true }]);
    expect(ipc.called("ask_question")).toEqual([{ text: "Vibrato?", voice: false, anonymous: true }]);
  });
});

describe("the text boxes", () => {
  // The room server's limits, as the bindings carry them (a box that took more would let a
  // student type a question the server then refuses).
  it("take no more than the room server and the store do", () => {
    fakeBackend({});
    render(<SidePanel view={lessonView({ host: false })} />);
    expect((screen.getByPlaceholderText("Ask a question…") as HTMLTextAreaElement).maxLength).toBe(1000);
    expect((screen.getByPlaceholderText(/message/i) as HTMLInputElement).maxLength).toBe(2000);
  });
});

describe("the notes", () => {
  afterEach(() => vi.useRealTimers());

  it("are saved once, a moment after typing stops", async () => {
    vi.useFakeTimers();
    const ipc = fakeBackend({});
    render(<Notes lessonId={1} initial="" />);
    const box = screen.getByLabelText("Notes");
    fireEvent.change(box, { target: { value: "bow" } });
    await act(() => vi.advanceTimersByTimeAsync(300));
    fireEvent.change(box, { target: { value: "bow arm lower" } });
    await act(() => vi.advanceTimersByTimeAsync(300));
    expect(ipc.called("save_note")).toEqual([]);
    await act(() => vi.advanceTimersByTimeAsync(1000));
    expect(ipc.called("save_note")).toEqual([{ lessonId: 1, body: "bow arm lower" }]);
    vi.useRealTimers();
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("Saved"));
  });

  it("keep what was typed when saving fails, and say why", async () => {
    fakeBackend({
      save_note: () => {
        throw { code: "store", message: "disk full" };
      },
    });
    render(<Notes lessonId={1} initial="" />);
    const box = screen.getByLabelText("Notes") as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: "scales in D" } });
    fireEvent.blur(box);
    expect((await screen.findByRole("alert")).textContent).toContain("could not be saved");
    expect(box.value).toBe("scales in D");
  });
});

describe("the side panel", () => {
  it("keeps a half-typed note while another tab is looked at", async () => {
    fakeBackend({});
    render(<SidePanel view={lessonView({ note: "from the start" })} />);
    const user = userEvent.setup();
    await user.click(screen.getByRole("tab", { name: "Notes" }));
    const box = screen.getByLabelText("Notes") as HTMLTextAreaElement;
    await user.clear(box);
    await user.type(box, "bow arm");
    await user.click(screen.getByRole("tab", { name: /Questions/ }));
    await user.click(screen.getByRole("tab", { name: "Notes" }));
    expect((screen.getByLabelText("Notes") as HTMLTextAreaElement).value).toBe("bow arm");
  });
});
