/** Tailwind scans the templates and page scripts for class names; only those end up in ../css/app.css. */
module.exports = {
  content: ["../../templates/**/*.html", "../js/**/*.js"],
  theme: {
    extend: {
      fontFamily: {
        // System fonts only: the dashboard must work offline, so no web fonts.
        sans: ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
        mono: ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
      },
    },
  },
  plugins: [],
};
