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
  // A chart may ask for its own printed size (data-print-width/-height: the headline chart
  // shares page one with the summary's text).
  // Such a small chart also prints its words smaller; on screen it is drawn again as it was.
  var screenHeight = plots.map(function (div) { return div.style.height; });
  function forPrint() {
    plots.forEach(function (div) {
      var size = {width: Number(div.getAttribute("data-print-width")) || PRINT_WIDTH};
      var height = Number(div.getAttribute("data-print-height"));
      if (height) {
        div.style.height = height + "px";
        size.height = height;
        size["font.size"] = 9;
        size["title.font.size"] = 11;
        size["xaxis.tickangle"] = -45;
        size["legend.y"] = -0.42;
        size["margin.t"] = 40;
      }
      Plotly.relayout(div, size);
    });
  }
  function forScreen() {
    plots.forEach(function (div, n) {
      if (div.getAttribute("data-print-height")) {
        var figure = JSON.parse(div.getAttribute("data-figure"));
        div.style.height = screenHeight[n];
        Plotly.react(div, figure.data, figure.layout, config);
      } else {
        Plotly.relayout(div, {width: null, autosize: true});
      }
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
