// The console's one script, loaded as a module (so only by browsers the NHS.UK frontend supports). Pages work
// without it; with it, the NHS.UK components (the header's menu, details, character counts) come to life.
import { initAll } from './nhsuk/nhsuk-frontend.min.js'

document.body.classList.add('js-enabled', 'nhsuk-frontend-supported')
initAll()
