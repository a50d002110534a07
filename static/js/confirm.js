// A form with data-confirm="question" is sent only once the person says yes: for a plain
// post and for htmx alike (this listener runs first, in the capture phase, and stops both).
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);
