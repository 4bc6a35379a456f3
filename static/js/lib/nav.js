/* Every page: on a phone the navigation scrolls sideways; keep the current page's link in view. */
const current = document.querySelector("nav [aria-current=page]");
if (current) current.parentElement.parentElement.parentElement.scrollLeft = current.offsetLeft - 8;
