//! The event bus over HTTP: Server-Sent Events, one `event:` per bus
//! event (the tag as the SSE event name, the data as JSON), filtered by a
//! tag glob. A client that reads too slowly gets a `missed` event saying
//! how many it lost; the bus never waits for it.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;

use super::auth::Authed;
use super::extract::Query;
use super::{ApiError, ApiState};
use crate::auth::Area;
use crate::events::Received;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// A tag glob (Salt's fnmatch: `*` crosses `/`), e.g. `brine/job/*`.
    pub tag: Option<String>,
}

/// The live event stream (text/event-stream).
#[utoipa::path(get, path = "/events", tag = "events", params(EventsQuery), security(("token" = [])),
    responses((status = 200, description = "text/event-stream: event = the tag, data = the event's JSON data", content_type = "text/event-stream", body = String),
              (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn stream(
    State(state): State<ApiState>,
    who: Authed,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    who.require(Area::Events)?;
    let sub = state.master.events.subscribe();
    let tag = q.tag;
    let events = futures::stream::unfold((sub, tag), |(mut sub, tag)| async move {
        loop {
            let event = match sub.recv().await {
                Received::Missed(n) => Event::default()
                    .event("missed")
                    .data(format!("{{\"missed\": {n}}}")),
                Received::Event(e) => {
                    if tag
                        .as_deref()
                        .is_some_and(|t| !crate::events::tag_matches(t, &e.tag))
                    {
                        continue;
                    }
                    // SSE event names end at a line break; tags have none
                    // (minions' are checked), but the master's own events
                    // are built from ids that are checked too.
                    Event::default()
                        .event(e.tag.replace(['\r', '\n'], " "))
                        .data(e.data.to_string())
                }
            };
            return Some((Ok(event), (sub, tag)));
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
