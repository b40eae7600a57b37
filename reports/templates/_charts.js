// Draw every chart of the page from the JSON in its data-figure attribute (no network).
// Before printing, charts are redrawn at the printed page's width so nothing is cut off;
// afterwards they follow the window again.
(function () {
  "use strict";
  var PRINT_WIDTH = 680; // CSS px across an A4 or Letter page inside the print margins
  var config = {displaylogo: false, responsive: true,
                modeBarButtonsToRemove: ["select2d", "lasso2d", "sendDataToCloud"]};
  var plots = Array.prototype.slice.call(document.querySelectorAll("div.plot[data-figure]"));
  plots.forEach(function (div) {
    var figure = JSON.parse(div.getAttribute("data-figure"));
    Plotly.newPlot(div, figure.data, figure.layout, config);
  });
  function forPrint() {
    plots.forEach(function (div) {
      Plotly.relayout(div, {width: PRINT_WIDTH});
    });
  }
  function forScreen() {
    plots.forEach(function (div) {
      Plotly.relayout(div, {width: null, autosize: true});
    });
  }
  window.addEventListener("beforeprint", forPrint);
  window.addEventListener("afterprint", forScreen);
  if (window.matchMedia) {
    var media = window.matchMedia("print");
    var listener = function (event) { if (event.matches) { forPrint(); } else { forScreen(); } };
    if (media.addEventListener) { media.addEventListener("change", listener); }
    else if (media.addListener) { media.addListener(listener); }
  }
})();
