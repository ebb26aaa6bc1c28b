// An instance's page follows its run.out as the instance writes it.
"use strict";
(function () {
  const box = document.getElementById("instance-log");
  if (box) window.followLog(box, false);
})();
