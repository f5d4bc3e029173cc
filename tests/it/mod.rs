mod fileserver;
mod golden;
mod inventory;
mod keys;
mod missing;
mod security;
mod states;
mod targeting;
