//! Pure data helpers shared by Jinja filters, execution functions and the
//! compiler (Salt's `salt.utils.dictupdate`, `traverse_dict`...).
