mod fileserver;
mod inventory;
mod keys;
mod missing;
mod security;
mod targeting;
