// One line saying why the cards show no correctness: the model's outputs were not read as class scores
// (an embedding, a regression head, unknown classes). The kernel writes the reason (view.predictions_note).
import { h } from "../dom.js";

export default {
  id: "prednote",
  area: "main",
  mount(el, store) {
    const line = h("p", { class: "napw-pred-note", "data-testid": "predictions-note", role: "note", hidden: true });
    el.append(line);
    function render(data) {
      const note = data?.view?.predictions_note || "";
      line.textContent = note ? `No predictions: ${note}.` : "";
      line.hidden = !note;
    }
    render(store.data);
    return store.on("data", render);
  },
};
