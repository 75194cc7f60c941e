// The shell's hand-back page (trm=post): post the form to the application at once.
"use strict";

document.getElementById("handback").submit();
