// Draw every chart of the page from the JSON in its data-figure attribute (no network).
(function () {
  "use strict";
  var config = {displaylogo: false, responsive: true,
                modeBarButtonsToRemove: ["select2d", "lasso2d", "sendDataToCloud"]};
  document.querySelectorAll("div.plot[data-figure]").forEach(function (div) {
    var figure = JSON.parse(div.getAttribute("data-figure"));
    Plotly.newPlot(div, figure.data, figure.layout, config);
  });
})();
