// The wizard's input step with htmx: a chosen file is sent at once (as "Add input"), a
// progress bar shows how much is in, Continue and Add input stay disabled until the answer
// is back, and a failed upload says why. Without JavaScript the form is a plain post.
(() => {
  const FORM = "form[data-upload-form]";

  function parts(form) {
    return {
      bar: form.querySelector(".upload-progress"),
      status: form.querySelector(".upload-status"),
      buttons: form.querySelectorAll("button[type=submit]"),
    };
  }

  function busy(form, on) {
    const { bar, buttons } = parts(form);
    buttons.forEach((button) => { button.disabled = on; });
    if (bar) bar.hidden = !on;
  }

  function say(form, text, failed) {
    const { status } = parts(form);
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("upload-failed", Boolean(failed));
  }

  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!window.htmx || input.type !== "file" || !input.files.length) return;
    const form = input.closest(FORM);
    if (!form) return;
    const add = form.querySelector("button[name=action][value=add]");
    const kind = form.querySelector("input[name=kind][value=upload]");
    if (kind) kind.checked = true;
    say(form, `Uploading ${input.files[0].name}…`, false);
    add.click(); // a click, so that htmx sends the button's name and value (action=add)
  });

  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = event.target.closest && event.target.closest(FORM);
    if (!form) return;
    const input = form.querySelector("input[type=file]");
    if (input && input.files.length) {
      const { bar } = parts(form);
      if (bar) bar.value = 0;
      busy(form, true);
    }
  });

  document.addEventListener("htmx:xhr:progress", (event) => {
    const form = event.target.closest && event.target.closest(FORM);
    if (!form || !event.detail.lengthComputable) return;
    const { bar } = parts(form);
    const percent = Math.round((100 * event.detail.loaded) / event.detail.total);
    if (bar && percent >= bar.value) bar.value = percent;
  });

  document.addEventListener("htmx:responseError", (event) => {
    const form = event.target.closest && event.target.closest(FORM);
    if (!form) return;
    busy(form, false);
    const status = event.detail.xhr.status;
    const why = status === 413 ? "the file is larger than the server accepts" : `the server answered ${status}`;
    say(form, `The upload failed: ${why}.`, true);
  });

  document.addEventListener("htmx:sendError", (event) => {
    const form = event.target.closest && event.target.closest(FORM);
    if (!form) return;
    busy(form, false);
    say(form, "The upload failed: the connection to the server was lost. Choose the file again.", true);
  });
})();
