"""The Slack app surface: owners decide from the DM, see what waits on them in the Home tab,
and ask with `/reconciler`. It calls the domain API (`reconciler.decisions`) and renders."""
